/** `bulwark keys rotate`: adds a new message-encryption key; new writes use it, old rows stay readable. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS_FILE, rotateKeyFile } from '../security/at-rest.js';
import type { Command } from './command.js';
import { CliError, resolveContext } from './context.js';

const rotate: Command = {
  summary: 'add a new current message-encryption key to <dataDir>/keys.json',
  usage: 'bulwark keys rotate',
  description:
    'New messages are encrypted with the new key; older ones stay readable with theirs (keys are never removed). A running server picks the new key up within a second. Back up keys.json after rotating.',
  options: {},
  config: true,
  async run(args) {
    if (process.env.BULWARK_ENCRYPTION_KEYS) throw new CliError('keys come from BULWARK_ENCRYPTION_KEYS; rotate by appending a new id:base64 entry there');
    const { dataDir } = resolveContext(args);
    if (!existsSync(join(dataDir, KEYS_FILE)))
      throw new CliError(`no ${KEYS_FILE} in ${dataDir}: run "bulwark serve" once with this data directory, or point --data-dir at the server's`);
    const id = rotateKeyFile(dataDir);
    console.log(`new current key ${id}; a running server picks it up within a second`);
    return 0;
  },
};

export const keys: Command = {
  summary: 'manage the message-encryption keys (keys rotate)',
  usage: 'bulwark keys <sub-command>',
  options: {},
  config: false,
  subcommands: { rotate },
};
