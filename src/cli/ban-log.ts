/** The ban log as the CLI reads it: the latest entry per subject wins (an unban is an entry with `until` 0). */
import { isIP } from 'node:net';
import type { BanKind, BanRecord } from '../store/store.js';
import { UsageError } from './args.js';

export function subjectOf(options: Record<string, string>, usage: string): { kind: BanKind; value: string } {
  if (options.user && options.ip) throw new UsageError(`give --user or --ip, not both; usage: ${usage}`);
  if (options.user) return { kind: 'user', value: options.user };
  if (options.ip) {
    if (!isIP(options.ip)) throw new UsageError(`--ip ${options.ip} is not an IP address`);
    return { kind: 'ip', value: options.ip };
  }
  throw new UsageError(`usage: ${usage}`);
}

export function currentBans(log: readonly BanRecord[]): Map<string, BanRecord> {
  const latest = new Map<string, BanRecord>();
  for (const r of log) latest.set(`${r.kind}:${r.value}`, r);
  return latest;
}
