/**
 * `bulwark revoke --jti ID [--for 24h]`: revokes one token id; live connections using it close 4401.
 * `bulwark revoke --user ID`: signs a user out everywhere: every token of the user issued until now
 * is refused and the user's connections close 4401 (an account's refresh tokens are revoked too).
 * A running server applies either within a second (it polls the revocation log).
 */
import { storeRevocations, UserAdmin } from '../auth/user-admin.js';
import { SECURITY_EVENTS } from '../security/events.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { CliError, resolveContext } from './context.js';
import { durationOption } from './durations.js';
import { openStore } from './open-store.js';

const USAGE = 'bulwark revoke --jti ID [--for 24h] | --user ID';

export const revoke: Command = {
  summary: 'revoke a token by its id (jti), or every session of a user (--user)',
  usage: USAGE,
  description:
    "With --jti, keep --for at least as long as the token lives: after it the revocation is forgotten. With --user, every token of the user issued until now is refused for auth.maxTokenTtlMs (the longest a token can live), and a built-in account's refresh tokens are revoked: the user signs in again.",
  options: {
    jti: { type: 'string', value: 'ID', help: 'the token id (the jti claim)' },
    for: { type: 'string', value: 'DURATION', help: 'with --jti: how long the revocation is kept (default 24h)' },
    user: { type: 'string', value: 'ID', help: 'a user id (the JWT sub; acct:NAME for a built-in account): every session of the user' },
  },
  config: true,
  async run(args) {
    const { jti, user } = args.options;
    if (!jti === !user) throw new UsageError(`usage: ${USAGE}  (--jti: keep --for at least as long as the token lives; --user: every token of the user issued until now)`);
    if (user !== undefined && args.options.for !== undefined) throw new UsageError('--for goes with --jti; a user revocation lasts auth.maxTokenTtlMs');
    const period = jti === undefined ? 0 : durationOption('for', args.options.for ?? '24h');
    const context = resolveContext(args);
    const store = await openStore(context);
    try {
      if (user !== undefined) {
        const admin = new UserAdmin({
          store,
          auth: context.config.auth,
          revocations: storeRevocations(store),
          record: (action, actor, target) =>
            store.recordSecurityEvent({ ts: Date.now(), type: 'admin_action', severity: SECURITY_EVENTS.admin_action, detail: { action, target, by: actor.via } }),
        });
        const result = await admin.revokeSessions(user, { via: 'cli' });
        if (!result.ok) throw new CliError(result.message);
        console.log(`revoked every session of ${user}`);
        return 0;
      }
      await store.addRevocation(jti!, Date.now() + period);
      store.recordSecurityEvent({ ts: Date.now(), type: 'token_revoked', severity: 'warning', detail: { jti: jti!, by: 'cli' } });
      console.log(`revoked ${jti!}`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
