/**
 * `bulwark ban --user ID | --ip ADDR [--for 1h] [--reason R]`, `bulwark unban --user|--ip`,
 * `bulwark bans`: manage bans. A running server applies them within a second (it polls the log).
 */
import { isIP } from 'node:net';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../auth/jwt.js';
import { banPeriodMs, nextBanLevel } from '../security/bans.js';
import type { BanKind, BanRecord } from '../store/store.js';
import { splitArgs } from './args.js';
import { openStore } from './open-store.js';

function subject(options: Record<string, string>): { kind: BanKind; value: string } | undefined {
  if (options.user) return { kind: 'user', value: options.user };
  if (options.ip && isIP(options.ip)) return { kind: 'ip', value: options.ip };
  return undefined;
}

/** Latest entry per subject from the log. */
function current(log: BanRecord[]): Map<string, BanRecord> {
  const latest = new Map<string, BanRecord>();
  for (const r of log) latest.set(`${r.kind}:${r.value}`, r);
  return latest;
}

export async function ban(args: string[]): Promise<number> {
  const { options, config: rest } = splitArgs(args, ['user', 'ip', 'for', 'reason']);
  const who = subject(options);
  if (!who) {
    console.error('usage: bulwark ban --user ID | --ip ADDRESS [--for 1h] [--reason TEXT]');
    return 1;
  }
  const store = await openStore(loadConfig({ args: rest }));
  try {
    const prev = current(await store.bansAfter(0)).get(`${who.kind}:${who.value}`);
    const now = Date.now();
    // The same rule as the server's: a subject clean for a day starts again at level 1.
    const level = nextBanLevel(prev, now);
    const until = now + (options.for ? parseDuration(options.for) : banPeriodMs(level));
    await store.addBan({ ...who, until, level, reason: options.reason ?? 'operator', createdAt: now });
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
}

export async function unban(args: string[]): Promise<number> {
  const { options, config: rest } = splitArgs(args, ['user', 'ip']);
  const who = subject(options);
  if (!who) {
    console.error('usage: bulwark unban --user ID | --ip ADDRESS');
    return 1;
  }
  const store = await openStore(loadConfig({ args: rest }));
  try {
    const prev = current(await store.bansAfter(0)).get(`${who.kind}:${who.value}`);
    await store.addBan({ ...who, until: 0, level: prev?.level ?? 0, reason: 'lifted', createdAt: Date.now() });
    store.recordSecurityEvent({ ts: Date.now(), type: 'ban_removed', severity: 'notice', ...(who.kind === 'ip' ? { ip: who.value } : { user: who.value }), detail: { by: 'cli' } });
    console.log(`unbanned ${who.kind} ${who.value}`);
    return 0;
  } finally {
    await store.close();
  }
}

export async function bans(args: string[]): Promise<number> {
  const { config: rest } = splitArgs(args, []);
  const store = await openStore(loadConfig({ args: rest }));
  try {
    const now = Date.now();
    const active = [...current(await store.bansAfter(0)).values()].filter((b) => b.until > now);
    for (const b of active) console.log(`${b.kind.padEnd(4)} ${b.value.padEnd(40)} until ${new Date(b.until).toISOString()} level ${b.level} (${b.reason})`);
    console.log(`${active.length} active ban(s)`);
    return 0;
  } finally {
    await store.close();
  }
}
