/** `bulwark keys rotate`: adds a new message-encryption key; new writes use it, old rows stay readable. */
import { loadConfig } from '../config/load.js';
import { rotateKeyFile } from '../security/at-rest.js';
import { splitArgs } from './args.js';

export async function keys(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'rotate') {
    console.error('usage: bulwark keys rotate');
    return 1;
  }
  if (process.env.BULWARK_ENCRYPTION_KEYS) {
    console.error('bulwark keys: keys come from BULWARK_ENCRYPTION_KEYS; rotate by appending a new id:base64 entry there');
    return 1;
  }
  const config = loadConfig({ args: splitArgs(rest, []).config });
  const id = rotateKeyFile(config.dataDir);
  console.log(`new current key ${id}; a running server picks it up within a second`);
  return 0;
}
