/**
 * Command-line parsing shared by every command: the command's own options (typed: a boolean
 * needs no value), positional arguments, `--help`, and — for commands that read the
 * configuration — every other `--flag` handed on to the configuration loader.
 */
import { configKeys } from '../config/keys.js';
import { flagPath } from '../config/load.js';
import { didYouMean } from '../config/did-you-mean.js';

export interface OptionSpec {
  /** `string` takes a value (`--sub alice` or `--sub=alice`); `boolean` takes none (`--json`). */
  type: 'string' | 'boolean';
  /** Placeholder in the help text, e.g. `ID`. */
  value?: string;
  help: string;
}

export interface Parsed {
  /** String options by name; a boolean option is present as `'true'` or `'false'`. */
  options: Record<string, string>;
  positionals: string[];
  /** Flags for the configuration loader (`--data-dir x`, `--limits.maxConnections 5`, …). */
  config: string[];
  help: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

function isConfigFlag(name: string): boolean {
  const path = flagPath(name);
  return name === 'config' || configKeys().has(path) || path.startsWith('rateLimits.');
}

/**
 * Splits `args` by the command's option table. With `acceptsConfig`, an unknown `--flag` is a
 * configuration flag unless it looks like a typo of one of the command's options; without it,
 * an unknown flag is an error that suggests the nearest option.
 */
export function parseArgs(args: readonly string[], spec: Readonly<Record<string, OptionSpec>>, acceptsConfig: boolean): Parsed {
  const parsed: Parsed = { options: {}, positionals: [], config: [], help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') {
      parsed.help = true;
      continue;
    }
    if (arg === '--') {
      parsed.positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const option = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (option?.type === 'boolean') {
      const value = eq >= 0 ? arg.slice(eq + 1) : 'true';
      if (value !== 'true' && value !== 'false') throw new UsageError(`--${name} takes no value (or =true / =false)`);
      parsed.options[name] = value;
      continue;
    }
    if (option) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value${option.value ? ` (${option.value})` : ''}`);
      parsed.options[name] = value;
      continue;
    }
    const own = Object.keys(spec);
    if (acceptsConfig && isConfigFlag(name)) {
      parsed.config.push(arg);
      // The loader decides whether a boolean configuration key consumes the next word.
      if (eq < 0 && i + 1 < args.length && !args[i + 1]!.startsWith('--')) parsed.config.push(args[++i]!);
      continue;
    }
    const hint = didYouMean(name, acceptsConfig ? [...own, 'data-dir', 'config'] : own, (c) => `--${c}`);
    if (hint || !acceptsConfig) throw new UsageError(`unknown option --${name}${hint}`);
    // Neither an option nor a known key: the configuration loader names it (with its own suggestion).
    parsed.config.push(arg);
    if (eq < 0 && i + 1 < args.length && !args[i + 1]!.startsWith('--')) parsed.config.push(args[++i]!);
  }
  return parsed;
}

/** A command's positional arguments, exactly `count` of them, else a usage error. */
export function positionals(args: Parsed, count: number, usage: string): string[] {
  if (args.positionals.length !== count) throw new UsageError(`usage: ${usage}`);
  return args.positionals;
}
