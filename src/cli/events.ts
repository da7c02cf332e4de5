/**
 * `bulwark events`: the stored security events, newest first, filtered by severity, type, user,
 * IP and age; `--follow` prints the latest ones oldest first, like `tail -f`, then each new event
 * as it is stored (polled every second) until interrupted.
 */
import { SECURITY_EVENTS } from '../security/events.js';
import { didYouMean } from '../config/did-you-mean.js';
import type { Severity, StoredSecurityEvent, SecurityEventQuery } from '../store/store.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { resolveContext } from './context.js';
import { durationOption } from './durations.js';
import { openStore } from './open-store.js';

const SEVERITIES: readonly Severity[] = ['info', 'notice', 'warning', 'error', 'critical'];
const FOLLOW_POLL_MS = 1000;

function since(value: string): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ts = Date.parse(value);
    if (Number.isNaN(ts)) throw new UsageError(`--since ${value} is not a date`);
    return ts;
  }
  return Date.now() - durationOption('since', value);
}

function filters(options: Record<string, string>): Omit<SecurityEventQuery, 'limit' | 'order'> {
  const query: Omit<SecurityEventQuery, 'limit' | 'order'> = { sinceTs: since(options.since ?? '24h') };
  if (options.severity !== undefined) {
    const at = SEVERITIES.indexOf(options.severity as Severity);
    if (at < 0) throw new UsageError(`--severity ${options.severity}: expected one of ${SEVERITIES.join(', ')}${didYouMean(options.severity, SEVERITIES)}`);
    query.severities = SEVERITIES.slice(at);
  }
  if (options.type !== undefined) {
    if (!Object.hasOwn(SECURITY_EVENTS, options.type))
      throw new UsageError(`--type ${options.type} is not a security event type${didYouMean(options.type, Object.keys(SECURITY_EVENTS))}`);
    query.type = options.type;
  }
  if (options.user !== undefined) query.user = options.user;
  if (options.ip !== undefined) query.ip = options.ip;
  return query;
}

function print(row: StoredSecurityEvent, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ ...row, time: new Date(row.ts).toISOString() }));
    return;
  }
  const who = [row.user ? `user=${row.user}` : '', row.ip ? `ip=${row.ip}` : ''].filter(Boolean).join(' ');
  // Repeats within a minute are one row (docs/protocol.md "Security events"): show the count.
  const repeats = (row.count ?? 1) > 1 ? ` x${row.count} until ${new Date(row.lastTs ?? row.ts).toISOString()}` : '';
  console.log(`${new Date(row.ts).toISOString()} ${row.severity.padEnd(8)} ${row.type.padEnd(24)} ${who}${repeats}${row.detail ? ` ${JSON.stringify(row.detail)}` : ''}`);
}

export const events: Command = {
  summary: 'print stored security events, newest first (filters, --follow)',
  usage: 'bulwark events [--since 24h] [--limit 100] [--severity LEVEL] [--type TYPE] [--user ID] [--ip ADDRESS] [--follow] [--json]',
  description: 'Severity is a minimum: --severity warning shows warning, error and critical. Event types are listed in docs/protocol.md ("Security events").',
  options: {
    since: { type: 'string', value: 'AGE|DATE', help: 'only events newer than 10m, 2h, 7d… or an ISO date (default 24h)' },
    limit: { type: 'string', value: 'N', help: 'at most N events (default 100, max 100000)' },
    severity: { type: 'string', value: 'LEVEL', help: `at least this severity: ${SEVERITIES.join(', ')}` },
    type: { type: 'string', value: 'TYPE', help: 'only this event type, e.g. origin_rejected' },
    user: { type: 'string', value: 'ID', help: 'only events about this user' },
    ip: { type: 'string', value: 'ADDRESS', help: 'only events from this IP address' },
    follow: { type: 'boolean', help: 'keep printing new events as they are stored (Ctrl-C stops)' },
    json: { type: 'boolean', help: 'one JSON object per line' },
  },
  config: true,
  async run(args) {
    const { options } = args;
    const limit = Number(options.limit ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError(`--limit ${options.limit}: expected a whole number from 1 to 100000`);
    const query = filters(options);
    const json = options.json === 'true';
    const store = await openStore(resolveContext(args));
    try {
      const rows = await store.querySecurityEvents({ ...query, limit, order: 'newest' });
      if (options.follow !== 'true') {
        for (const row of rows) print(row, json);
        if (!json)
          console.error(`${rows.length} event(s) since ${new Date(query.sinceTs).toISOString()}${rows.length === limit ? ` (the newest ${limit}; --limit for more)` : ''}`);
        return 0;
      }
      let lastId = rows[0]?.id ?? 0;
      for (let i = rows.length - 1; i >= 0; i--) print(rows[i]!, json);
      if (lastId === 0) lastId = (await store.querySecurityEvents({ sinceTs: 0, limit: 1, order: 'newest' }))[0]?.id ?? 0;
      await new Promise<void>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const stop = (): void => {
          clearTimeout(timer);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        const poll = (): void => {
          store
            .querySecurityEvents({ ...query, sinceTs: 0, afterId: lastId, limit: 1000, order: 'oldest' })
            .then((fresh) => {
              for (const row of fresh) print(row, json);
              if (fresh.length > 0) lastId = fresh[fresh.length - 1]!.id;
              timer = setTimeout(poll, FOLLOW_POLL_MS);
            })
            .catch(reject);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        timer = setTimeout(poll, FOLLOW_POLL_MS);
      });
      return 0;
    } finally {
      await store.close();
    }
  },
};
