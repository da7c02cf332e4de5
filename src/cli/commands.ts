/** The command table: one file per command. */
import { apikeys } from './apikeys.js';
import { audit } from './audit.js';
import { backup } from './backup.js';
import { ban } from './ban.js';
import { bans } from './bans.js';
import { checkConfig } from './check-config.js';
import type { Command } from './command.js';
import { events } from './events.js';
import { keys } from './keys.js';
import { restore } from './restore.js';
import { revoke } from './revoke.js';
import { serve } from './serve.js';
import { token } from './token.js';
import { unban } from './unban.js';
import { users } from './users.js';
import { version } from './version.js';

export const COMMANDS: Readonly<Record<string, Command>> = {
  serve,
  token,
  events,
  ban,
  unban,
  bans,
  revoke,
  users,
  apikeys,
  keys,
  'check-config': checkConfig,
  audit,
  backup,
  restore,
  version,
};
