/** `bulwark bans [--json]`: lists the active bans. */
import type { Command } from './command.js';
import { currentBans } from './ban-log.js';
import { resolveContext } from './context.js';
import { openStore } from './open-store.js';

export const bans: Command = {
  summary: 'list the active bans',
  usage: 'bulwark bans [--json]',
  options: { json: { type: 'boolean', help: 'one JSON object per line' } },
  config: true,
  async run(args) {
    const store = await openStore(resolveContext(args));
    try {
      const now = Date.now();
      const active = [...currentBans(await store.bansAfter(0)).values()].filter((b) => b.until > now);
      if (args.options.json === 'true') {
        for (const b of active) console.log(JSON.stringify({ kind: b.kind, value: b.value, until: new Date(b.until).toISOString(), level: b.level, reason: b.reason }));
        return 0;
      }
      for (const b of active) console.log(`${b.kind.padEnd(4)} ${b.value.padEnd(40)} until ${new Date(b.until).toISOString()} level ${b.level} (${b.reason})`);
      console.log(`${active.length} active ban(s)`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
