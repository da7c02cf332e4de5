#!/usr/bin/env node
/**
 * The `bulwark` command: finds the command (and sub-command), parses its options, answers
 * `--help`, and turns every expected failure into one line on stderr and exit code 1 — a usage
 * mistake, a configuration problem, a missing data directory — never a stack trace.
 */
import { ConfigError } from '../config/load.js';
import { didYouMean } from '../config/did-you-mean.js';
import { parseArgs, UsageError } from './args.js';
import { COMMANDS } from './commands.js';
import { helpText, type Command } from './command.js';
import { CliError } from './context.js';
import { StartupFailed } from './serve.js';

function overview(): string {
  const lines = ['usage: bulwark <command> [options]', '', 'Commands:'];
  for (const [name, { summary }] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(14)} ${summary}`);
  lines.push('', 'Run "bulwark <command> --help" for its options. Documentation: README.md, docs/deploy.md.');
  return lines.join('\n');
}

/** Follows sub-command names (`keys rotate`) as far as they go. */
function find(argv: string[]): { name: string; command: Command; rest: string[] } | number {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic !== undefined && Object.hasOwn(COMMANDS, topic)) {
      console.log(helpText(topic, COMMANDS[topic]!));
      return 0;
    }
    console.log(overview());
    return first === undefined ? 1 : 0;
  }
  if (first === '--version' || first === '-v') return find(['version', ...rest]);
  if (!Object.hasOwn(COMMANDS, first)) {
    console.error(`bulwark: unknown command "${first}"${didYouMean(first, Object.keys(COMMANDS))}; run "bulwark help" for the list`);
    return 1;
  }
  let name = first;
  let command = COMMANDS[first]!;
  while (command.subcommands && rest.length > 0 && !rest[0]!.startsWith('-')) {
    const sub = rest[0]!;
    if (!Object.hasOwn(command.subcommands, sub)) {
      console.error(`bulwark ${name}: unknown sub-command "${sub}"${didYouMean(sub, Object.keys(command.subcommands))}; run "bulwark ${name} --help"`);
      return 1;
    }
    rest.shift();
    name = `${name} ${sub}`;
    command = command.subcommands[sub]!;
  }
  return { name, command, rest };
}

async function main(argv: string[]): Promise<number> {
  const found = find(argv);
  if (typeof found === 'number') return found;
  const { name, command, rest } = found;
  try {
    const parsed = parseArgs(rest, command.options, command.config);
    if (parsed.help || !command.run) {
      const text = helpText(name, command);
      if (parsed.help) console.log(text);
      else console.error(text);
      return parsed.help ? 0 : 1;
    }
    return await command.run(parsed);
  } catch (error) {
    if (error instanceof StartupFailed) return 1;
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(problem);
    } else if (error instanceof UsageError || error instanceof CliError) {
      console.error(`bulwark ${name}: ${error.message}`);
    } else {
      console.error(`bulwark ${name}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    }
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // A failed command leaves nothing worth waiting for (a half-started server's timers, a pool):
    // exit now with its code. A successful one exits when its work is done, with 0.
    if (code !== 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(`bulwark: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
