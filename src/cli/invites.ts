/**
 * `bulwark users invite | invites | uninvite`: single-use invitation codes for
 * `accounts.registration: invite` (src/auth/invites.ts). The code is printed once on stdout; the
 * store keeps only its hash, so `invites` lists ids and states, never codes.
 */
import { createInvite, inviteState } from '../auth/invites.js';
import { SECURITY_EVENTS } from '../security/events.js';
import type { Store } from '../store/store.js';
import { positionals } from './args.js';
import type { Command } from './command.js';
import { CliError, resolveContext } from './context.js';
import { durationOption } from './durations.js';
import { withStore } from './open-store.js';

function recordCliAction(store: Store, action: string, target: string, detail?: Record<string, unknown>): void {
  store.recordSecurityEvent({ ts: Date.now(), type: 'admin_action', severity: SECURITY_EVENTS.admin_action, detail: { action, target, by: 'cli', ...detail } });
}

const INVITE_USAGE = 'bulwark users invite [--for 7d]';

export const invite: Command = {
  summary: 'print a single-use invitation code (accounts.registration: invite)',
  usage: INVITE_USAGE,
  description: 'The code is printed once on stdout and never stored (only its hash). Hand it to the person who registers with it; it works once, until it expires.',
  options: { for: { type: 'string', value: 'DURATION', help: 'how long the code is valid (default accounts.inviteTtlMs)' } },
  config: true,
  async run(args) {
    positionals(args, 0, INVITE_USAGE);
    const ttlOption = args.options.for;
    const ttl = ttlOption === undefined ? undefined : durationOption('for', ttlOption);
    const context = resolveContext(args);
    const { accounts } = context.config;
    const created = await withStore(context, async (store) => {
      const made = await createInvite(store, 'cli', ttl ?? accounts.inviteTtlMs);
      recordCliAction(store, 'invite', made.id);
      return made;
    });
    console.log(created.code);
    const note = accounts.registration === 'invite' ? '' : ` (note: accounts.registration is ${accounts.registration})`;
    console.error(`invitation ${created.id}, single use, valid until ${new Date(created.expiresAt).toISOString()}${note}`);
    return 0;
  },
};

export const invites: Command = {
  summary: 'list invitation codes by id and state (never the codes themselves)',
  usage: 'bulwark users invites',
  options: {},
  config: true,
  async run(args) {
    positionals(args, 0, 'bulwark users invites');
    const rows = await withStore(resolveContext(args), (store) => store.listInvites(200));
    for (const i of rows) {
      console.log(`${i.id}  ${inviteState(i).padEnd(8)} created ${new Date(i.createdAt).toISOString()} by ${i.createdBy}${i.usedBy ? `, used by ${i.usedBy}` : ''}`);
    }
    console.log(`${rows.length} invitation(s)`);
    return 0;
  },
};

export const uninvite: Command = {
  summary: 'expire an unused invitation code by its id',
  usage: 'bulwark users uninvite ID',
  options: {},
  config: true,
  async run(args) {
    const [id] = positionals(args, 1, 'bulwark users uninvite ID') as [string];
    await withStore(resolveContext(args), async (store) => {
      if (!(await store.revokeInvite(id))) throw new CliError(`no unused invitation ${id}`);
      recordCliAction(store, 'uninvite', id);
    });
    console.log(`invitation ${id} expired`);
    return 0;
  },
};
