/**
 * `bulwark ban --user ID | --ip ADDR [--for 1h] [--reason R]`. A running server applies it within
 * a second (it polls the ban log) and closes the subject's connections 4403.
 */
import { banPeriodMs, nextBanLevel } from '../security/bans.js';
import type { Command } from './command.js';
import { currentBans, subjectOf } from './ban-log.js';
import { resolveContext } from './context.js';
import { openStore } from './open-store.js';
import { durationOption } from './durations.js';

const USAGE = 'bulwark ban --user ID | --ip ADDRESS [--for 1h] [--reason TEXT]';

export const ban: Command = {
  summary: 'ban a user or an IP address',
  usage: USAGE,
  description: 'Without --for, the period grows with each ban of the same subject: 1 min, then doubling (a subject clean for a day starts again at 1 min).',
  options: {
    user: { type: 'string', value: 'ID', help: 'the user id (JWT sub) to ban' },
    ip: { type: 'string', value: 'ADDRESS', help: 'the client IP address to ban' },
    for: { type: 'string', value: 'DURATION', help: 'ban period: 30s, 15m, 2h, 7d or milliseconds' },
    reason: { type: 'string', value: 'TEXT', help: 'recorded with the ban (default: operator)' },
  },
  config: true,
  async run(args) {
    const who = subjectOf(args.options, USAGE);
    const period = args.options.for === undefined ? undefined : durationOption('for', args.options.for);
    const store = await openStore(resolveContext(args));
    try {
      const prev = currentBans(await store.bansAfter(0)).get(`${who.kind}:${who.value}`);
      const now = Date.now();
      // The same rule as the server's: a subject clean for a day starts again at level 1.
      const level = nextBanLevel(prev, now);
      const until = now + (period ?? banPeriodMs(level));
      await store.addBan({ ...who, until, level, reason: args.options.reason ?? 'operator', createdAt: now });
      store.recordSecurityEvent({
        ts: now,
        type: 'ban_added',
        severity: 'warning',
        ...(who.kind === 'ip' ? { ip: who.value } : { user: who.value }),
        detail: { until, level, by: 'cli' },
      });
      console.log(`banned ${who.kind} ${who.value} until ${new Date(until).toISOString()}`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
