/** `bulwark unban --user ID | --ip ADDR`: lifts a ban; a running server applies it within a second. */
import type { Command } from './command.js';
import { currentBans, subjectOf } from './ban-log.js';
import { resolveContext } from './context.js';
import { openStore } from './open-store.js';

const USAGE = 'bulwark unban --user ID | --ip ADDRESS';

export const unban: Command = {
  summary: 'lift a ban',
  usage: USAGE,
  options: {
    user: { type: 'string', value: 'ID', help: 'the banned user id' },
    ip: { type: 'string', value: 'ADDRESS', help: 'the banned IP address' },
  },
  config: true,
  async run(args) {
    const who = subjectOf(args.options, USAGE);
    const store = await openStore(resolveContext(args));
    try {
      const prev = currentBans(await store.bansAfter(0)).get(`${who.kind}:${who.value}`);
      const now = Date.now();
      await store.addBan({ ...who, until: 0, level: prev?.level ?? 0, reason: 'lifted', createdAt: now });
      store.recordSecurityEvent({ ts: now, type: 'ban_removed', severity: 'notice', ...(who.kind === 'ip' ? { ip: who.value } : { user: who.value }), detail: { by: 'cli' } });
      console.log(`unbanned ${who.kind} ${who.value}`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
