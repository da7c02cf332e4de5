/** `bulwark revoke --jti ID [--for 1h]`: revokes a token id; live connections using it close 4401 within a second. */
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../auth/jwt.js';
import { splitArgs } from './args.js';
import { openStore } from './open-store.js';

export async function revoke(args: string[]): Promise<number> {
  const { options, config: rest } = splitArgs(args, ['jti', 'for']);
  if (!options.jti) {
    console.error('usage: bulwark revoke --jti ID [--for 24h]  (keep it at least as long as the token lives)');
    return 1;
  }
  const store = await openStore(loadConfig({ args: rest }));
  try {
    await store.addRevocation(options.jti, Date.now() + parseDuration(options.for ?? '24h'));
    store.recordSecurityEvent({ ts: Date.now(), type: 'token_revoked', severity: 'warning', detail: { jti: options.jti, by: 'cli' } });
    console.log(`revoked ${options.jti}`);
    return 0;
  } finally {
    await store.close();
  }
}
