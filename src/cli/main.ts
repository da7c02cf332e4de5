#!/usr/bin/env node
/** The `bulwark` command: one file per subcommand, dispatched here. */
import { ConfigError } from '../config/load.js';
import { COMMANDS } from './commands.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log('usage: bulwark <command> [options]\n');
    for (const [cmd, { summary }] of Object.entries(COMMANDS)) console.log(`  ${cmd.padEnd(10)} ${summary}`);
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`bulwark: unknown command "${name}" (try bulwark help)`);
    return 1;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) console.error(error.message);
    else console.error(`bulwark: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
