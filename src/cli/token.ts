/**
 * `bulwark token --sub ID [--name N] [--roles a,b] [--ttl 15m]`: prints a JWT signed with the
 * configured key. It refuses what the server would refuse: an `acct:` subject (the built-in
 * accounts' namespace, docs/protocol.md "Identities") and a lifetime beyond `auth.maxTokenTtlMs`.
 */
import { ACCOUNT_PREFIX, API_KEY_SUBJECT_PREFIX, leadingLabel } from '../auth/identity.js';
import { hmacSecret, MissingSecretError } from '../auth/keys.js';
import { mintToken } from '../auth/jwt.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { CliError, resolveContext } from './context.js';
import { durationOption } from './durations.js';

const USAGE = 'bulwark token --sub ID [--name NAME] [--roles a,b] [--ttl 15m]';

export const token: Command = {
  summary: 'print a JWT signed with the configured secret',
  usage: USAGE,
  description:
    'Signs with auth.secret (BULWARK_JWT_SECRET) or the secret "bulwark serve" generated in the data directory; never creates one. Refused when the server verifies public-key tokens: mint those with your identity provider. Refused for an "acct:" subject (built-in accounts get their tokens by signing in; manage them with "bulwark users") and for a --ttl beyond auth.maxTokenTtlMs (the server would refuse the token).',
  options: {
    sub: { type: 'string', value: 'ID', help: 'the user id (sub claim); required' },
    name: { type: 'string', value: 'NAME', help: 'display name (name claim)' },
    roles: { type: 'string', value: 'a,b', help: 'comma-separated roles; "admin" grants admin actions' },
    ttl: { type: 'string', value: 'DURATION', help: 'lifetime: 30s, 15m, 2h or milliseconds (default 15m; at most auth.maxTokenTtlMs)' },
  },
  config: true,
  async run(args) {
    const { sub, name, roles, ttl } = args.options;
    if (!sub) throw new UsageError(`usage: ${USAGE}`);
    // acct: ids are the built-in accounts' (src/auth/identity.ts); their tokens come from a login.
    if (leadingLabel(sub) === ACCOUNT_PREFIX) throw new CliError('"acct:" subjects belong to built-in accounts; manage them with bulwark users');
    if (leadingLabel(sub) === API_KEY_SUBJECT_PREFIX) throw new CliError('"apikey:" subjects belong to server API keys; manage them with bulwark apikeys');
    const ttlMs = durationOption('ttl', ttl ?? '15m');
    const { config, dataDirSource } = resolveContext(args);
    if (!config.auth.algorithms.some((a) => a.startsWith('HS'))) throw new CliError('the configured key is a public key; mint tokens with your identity provider');
    // The server would refuse it (docs/protocol.md "Tokens"): say so now rather than at auth.
    if (ttlMs > config.auth.maxTokenTtlMs) throw new CliError(`--ttl is longer than auth.maxTokenTtlMs (${config.auth.maxTokenTtlMs} ms); the server would refuse the token`);
    let secret: Uint8Array;
    try {
      secret = hmacSecret(config, false);
    } catch (err) {
      if (!(err instanceof MissingSecretError)) throw err;
      throw new CliError(
        `${err.message}: run "bulwark serve" once with this data directory, point --data-dir, BULWARK_DATA_DIR or --config at the server's (used: ${dataDirSource}), or set BULWARK_JWT_SECRET`,
      );
    }
    const jwt = await mintToken(secret, config.auth, {
      sub,
      name,
      roles: roles
        ? roles
            .split(',')
            .map((r: string) => r.trim())
            .filter(Boolean)
        : undefined,
      ttlMs,
    });
    console.log(jwt);
    return 0;
  },
};
