/** `bulwark token --sub ID [--name N] [--roles a,b] [--ttl 15m]`: prints a JWT signed with the configured key. */
import { loadConfig } from '../config/load.js';
import { hmacSecret } from '../auth/keys.js';
import { mintToken, parseDuration } from '../auth/jwt.js';
import { ACCOUNT_PREFIX, leadingLabel } from '../auth/identity.js';
import { splitArgs } from './args.js';

export async function token(args: string[]): Promise<number> {
  const { options, config: rest } = splitArgs(args, ['sub', 'name', 'roles', 'ttl']);
  if (!options.sub) {
    console.error('usage: bulwark token --sub ID [--name NAME] [--roles a,b] [--ttl 15m]');
    return 1;
  }
  if (leadingLabel(options.sub) === ACCOUNT_PREFIX) {
    // acct: ids are the built-in accounts' (src/auth/identity.ts); their tokens come from a login.
    console.error('bulwark token: "acct:" subjects belong to built-in accounts; manage them with bulwark users');
    return 1;
  }
  const config = loadConfig({ args: rest });
  if (!config.auth.algorithms.some((a) => a.startsWith('HS'))) {
    console.error('bulwark token: the configured key is a public key; mint tokens with your identity provider');
    return 1;
  }
  const ttlMs = parseDuration(options.ttl ?? '15m');
  if (ttlMs > config.auth.maxTokenTtlMs) {
    // The server would refuse it (docs/protocol.md "Tokens"): say so now rather than at auth.
    console.error(`bulwark token: --ttl is longer than auth.maxTokenTtlMs (${config.auth.maxTokenTtlMs} ms); the server would refuse the token`);
    return 1;
  }
  const jwt = await mintToken(hmacSecret(config), config.auth, {
    sub: options.sub,
    name: options.name,
    roles: options.roles
      ? options.roles
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean)
      : undefined,
    ttlMs,
  });
  console.log(jwt);
  return 0;
}
