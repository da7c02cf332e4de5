/** `bulwark version [--json]`: the package version, the wire protocol and the Node.js running it. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUBPROTOCOL } from '../protocol/constants.js';
import type { Command } from './command.js';

/** The nearest package.json named "bulwark" above this file (src/cli in a checkout, dist/src/cli when built). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'bulwark' && pkg.version) return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

export const version: Command = {
  summary: 'print the version',
  usage: 'bulwark version [--json]',
  options: { json: { type: 'boolean', help: 'as a JSON object' } },
  config: false,
  async run(args) {
    const info = { bulwark: packageVersion(), protocol: SUBPROTOCOL, node: process.version };
    console.log(args.options.json === 'true' ? JSON.stringify(info) : `bulwark ${info.bulwark} (protocol ${info.protocol}, node ${info.node})`);
    return 0;
  },
};
