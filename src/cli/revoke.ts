/**
 * `bulwark revoke --jti ID [--for 1h]`: revokes one token id; live connections using it close 4401.
 * `bulwark revoke --user ID`: signs a user out everywhere: every token of the user issued until now
 * is refused and the user's connections close 4401 (an account's refresh tokens are revoked too).
 * A running server applies either within a second (it polls the revocation log).
 */
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../auth/jwt.js';
import { storeRevocations, UserAdmin } from '../auth/user-admin.js';
import { SECURITY_EVENTS } from '../security/events.js';
import { splitArgs } from './args.js';
import { openStore } from './open-store.js';

export async function revoke(args: string[]): Promise<number> {
  const { options, config: rest } = splitArgs(args, ['jti', 'for', 'user']);
  if (!options.jti === !options.user) {
    console.error(
      'usage: bulwark revoke --jti ID [--for 24h]  (keep it at least as long as the token lives)\n       bulwark revoke --user ID   (every token of the user issued until now)',
    );
    return 1;
  }
  const config = loadConfig({ args: rest });
  const store = await openStore(config);
  try {
    if (options.user) {
      const admin = new UserAdmin({
        store,
        auth: config.auth,
        revocations: storeRevocations(store),
        record: (action, actor, target) =>
          store.recordSecurityEvent({ ts: Date.now(), type: 'admin_action', severity: SECURITY_EVENTS.admin_action, detail: { action, target, by: actor.via } }),
      });
      const result = await admin.revokeSessions(options.user, { via: 'cli' });
      if (!result.ok) {
        console.error(`bulwark revoke: ${result.message}`);
        return 1;
      }
      console.log(`revoked every session of ${options.user}`);
      return 0;
    }
    await store.addRevocation(options.jti!, Date.now() + parseDuration(options.for ?? '24h'));
    store.recordSecurityEvent({ ts: Date.now(), type: 'token_revoked', severity: 'warning', detail: { jti: options.jti!, by: 'cli' } });
    console.log(`revoked ${options.jti!}`);
    return 0;
  } finally {
    await store.close();
  }
}
