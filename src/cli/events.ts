/** `bulwark events [--since 10m] [--limit 200] [--json]`: prints stored security events, oldest first. */
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../auth/jwt.js';
import { splitArgs } from './args.js';
import { openStore } from './open-store.js';

export async function events(args: string[]): Promise<number> {
  const { options, config: rest } = splitArgs(args, ['since', 'limit', 'json']);
  const config = loadConfig({ args: rest });
  const store = await openStore(config);
  try {
    const since = Date.now() - parseDuration(options.since ?? '10m');
    const rows = await store.listSecurityEvents(since, Math.min(Number(options.limit ?? 1000), 100_000));
    if (options.json === 'true') {
      for (const row of rows) console.log(JSON.stringify(row));
    } else {
      for (const row of rows) {
        const who = [row.user ? `user=${row.user}` : '', row.ip ? `ip=${row.ip}` : ''].filter(Boolean).join(' ');
        // Repeats within a minute are one row (docs/protocol.md "Security events"): show the count.
        const repeats = (row.count ?? 1) > 1 ? ` x${row.count} until ${new Date(row.lastTs ?? row.ts).toISOString()}` : '';
        console.log(`${new Date(row.ts).toISOString()} ${row.severity.padEnd(8)} ${row.type.padEnd(24)} ${who}${repeats}${row.detail ? ` ${JSON.stringify(row.detail)}` : ''}`);
      }
      console.log(`${rows.length} event(s) since ${new Date(since).toISOString()}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
