/** The command table. */
import { ban, bans, unban } from './bans.js';
import { events } from './events.js';
import { keys } from './keys.js';
import { revoke } from './revoke.js';
import { serve } from './serve.js';
import { token } from './token.js';

export interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the server (configuration flags: --port, --host, --data-dir, --config, --<key> value)', run: serve },
  token: { summary: 'mint a JWT: --sub ID [--name N] [--roles a,b] [--ttl 15m]', run: token },
  events: { summary: 'print security events: [--since 10m] [--limit N] [--json true]', run: events },
  ban: { summary: 'ban a user or IP: --user ID | --ip ADDR [--for 1h] [--reason R]', run: ban },
  unban: { summary: 'lift a ban: --user ID | --ip ADDR', run: unban },
  bans: { summary: 'list active bans', run: bans },
  revoke: { summary: 'revoke a token id: --jti ID [--for 24h]', run: revoke },
  keys: { summary: 'keys: keys rotate (new message-encryption key) | keys adopt-jwt (after changing the JWT key)', run: keys },
};
