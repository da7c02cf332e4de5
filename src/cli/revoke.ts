/** `bulwark revoke --jti ID [--for 24h]`: revokes a token id; live connections using it close 4401 within a second. */
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { resolveContext } from './context.js';
import { durationOption } from './durations.js';
import { openStore } from './open-store.js';

export const revoke: Command = {
  summary: 'revoke a token by its id (jti)',
  usage: 'bulwark revoke --jti ID [--for 24h]',
  description: 'Keep --for at least as long as the token lives: after it the revocation is forgotten.',
  options: {
    jti: { type: 'string', value: 'ID', help: 'the token id (the jti claim)' },
    for: { type: 'string', value: 'DURATION', help: 'how long the revocation is kept (default 24h)' },
  },
  config: true,
  async run(args) {
    const jti = args.options.jti;
    if (!jti) throw new UsageError('usage: bulwark revoke --jti ID [--for 24h]  (keep it at least as long as the token lives)');
    const period = durationOption('for', args.options.for ?? '24h');
    const store = await openStore(resolveContext(args));
    try {
      await store.addRevocation(jti, Date.now() + period);
      store.recordSecurityEvent({ ts: Date.now(), type: 'token_revoked', severity: 'warning', detail: { jti, by: 'cli' } });
      console.log(`revoked ${jti}`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
