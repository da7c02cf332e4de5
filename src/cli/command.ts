/**
 * The shape of a `bulwark` command, and the help text every command and sub-command gets from
 * its own table (`bulwark <command> --help`).
 */
import type { OptionSpec, Parsed } from './args.js';

export interface Command {
  /** One line for `bulwark help`. */
  summary: string;
  /** `bulwark token --sub ID [options]`. */
  usage: string;
  /** Paragraphs after the usage line. */
  description?: string;
  options: Readonly<Record<string, OptionSpec>>;
  /** Reads the configuration (and so takes the configuration flags: `--data-dir`, `--config`, …). */
  config: boolean;
  /** `keys rotate`, … */
  subcommands?: Readonly<Record<string, Command>>;
  run?(args: Parsed): Promise<number>;
}

const CONFIG_HELP = `Configuration flags (as for serve): --config FILE, --data-dir DIR, --database-url URL, --<key> VALUE
(any key of the configuration, e.g. --auth.secret, --limits.maxConnections 500).
The data directory comes from --data-dir, else BULWARK_DATA_DIR, else the config file's dataDir,
else ./data; the command prints the one it used.`;

export function helpText(name: string, command: Command): string {
  const lines = [`usage: ${command.usage}`, '', command.summary];
  if (command.description) lines.push('', command.description);
  if (command.subcommands) {
    lines.push('', 'Sub-commands:');
    for (const [sub, c] of Object.entries(command.subcommands)) lines.push(`  ${sub.padEnd(14)} ${c.summary}`);
    lines.push('', `Run "bulwark ${name} <sub-command> --help" for its options.`);
  }
  lines.push('', 'Options:');
  for (const [opt, spec] of Object.entries(command.options)) {
    const left = `--${opt}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    lines.push(`  ${left.padEnd(22)} ${spec.help}`);
  }
  lines.push(`  ${'--help'.padEnd(22)} this text`);
  if (command.config) lines.push('', CONFIG_HELP);
  return lines.join('\n');
}
