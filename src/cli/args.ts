/** Splits command options from configuration flags: known options are taken, the rest configure. */
export interface SplitArgs {
  options: Record<string, string>;
  config: string[];
}

export function splitArgs(args: readonly string[], known: readonly string[]): SplitArgs {
  const options: Record<string, string> = {};
  const config: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq >= 0 ? eq : undefined) : '';
    if (name && known.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      options[name] = value;
    } else {
      config.push(arg);
      if (eq < 0 && arg.startsWith('--') && i + 1 < args.length) config.push(args[++i]!);
    }
  }
  return { options, config };
}
