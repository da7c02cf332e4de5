/**
 * `bulwark users <action>`: built-in accounts, their roles and invitation codes, against the
 * configured store. Works while the server runs: it writes the store, and the server applies a
 * disable (closing the user's connections) or a role taken away within a second, as it does bans
 * and revocations (it polls the revocation log). The first administrator of a fresh install:
 * `bulwark users create alice --admin` (asks for the password twice on a terminal; scripts pass
 * it on standard input with `--password-stdin`).
 */
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../auth/jwt.js';
import { createInvite, inviteState } from '../auth/invites.js';
import { storeRevocations, UserAdmin, type Actor, type AdminAction } from '../auth/user-admin.js';
import { SECURITY_EVENTS } from '../security/events.js';
import type { Store } from '../store/store.js';
import { splitArgs } from './args.js';
import { openStore } from './open-store.js';

const USAGE = `usage: bulwark users <action> [arguments] [config flags]
  list [--search TEXT] [--limit 100]      accounts, with roles and state
  create USERNAME [--admin] [--role R] [--password-stdin]
                                          a new account (asks for the password, or reads it from stdin)
  grant USER ROLE                         give a role (admin: the admin console and admin actions)
  revoke-role USER ROLE                   take a role away; the user's current tokens stop working
  disable USER                            no more logins; the user's connections close within a second
  enable USER                             undo disable
  reset-password USER [--password-stdin]  set a new password; signs the user out everywhere
  invite [--for 7d]                       print a single-use invitation code (accounts.registration: invite)
  invites                                 list invitation codes (never the codes themselves)
  uninvite ID                             expire an unused invitation code
USER is a username (alice) or an account id (acct:alice).`;

const FLAGS = ['admin', 'password-stdin'];
const OPTIONS = ['search', 'limit', 'role', 'for'];

interface Parsed {
  positional: string[];
  flags: Set<string>;
  options: Record<string, string>;
  config: string[];
}

/** `action ARG... --flag --option value --config-key value`: arguments come before flags. */
function parse(args: readonly string[]): Parsed {
  const positional: string[] = [];
  let i = 0;
  while (i < args.length && !args[i]!.startsWith('--')) positional.push(args[i++]!);
  const flags = new Set<string>();
  const rest: string[] = [];
  for (const arg of args.slice(i)) {
    const name = arg.slice(2);
    if (arg.startsWith('--') && FLAGS.includes(name)) flags.add(name);
    else rest.push(arg);
  }
  const { options, config } = splitArgs(rest, OPTIONS);
  return { positional, flags, options, config };
}

/** Reads a password: the first line of standard input, or twice from the terminal without echo. */
async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    let text = '';
    for await (const chunk of process.stdin) {
      text += String(chunk);
      if (text.length > 4096 || text.includes('\n')) break;
    }
    return text.split(/\r?\n/)[0]!;
  }
  if (!process.stdin.isTTY) throw new Error('no terminal to ask for the password on: pass it with --password-stdin');
  const first = await promptHidden('Password: ');
  const again = await promptHidden('Password again: ');
  if (first !== again) throw new Error('the passwords differ');
  return first;
}

function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          reject(new Error('cancelled'));
          return;
        }
        value = ch === '\u007f' || ch === '\b' ? Array.from(value).slice(0, -1).join('') : value + ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

function cliAdmin(store: Store, config: ReturnType<typeof loadConfig>): UserAdmin {
  return new UserAdmin({
    store,
    auth: config.auth,
    revocations: storeRevocations(store),
    record: (action: AdminAction, actor: Actor, target: string, detail?: Record<string, unknown>) =>
      store.recordSecurityEvent({
        ts: Date.now(),
        type: 'admin_action',
        severity: SECURITY_EVENTS.admin_action,
        user: actor.id,
        detail: { action, target, by: actor.via, ...detail },
      }),
  });
}

const CLI: Actor = { via: 'cli' };

function fail(message: string): number {
  console.error(`bulwark users: ${message}`);
  return 1;
}

export async function users(args: string[]): Promise<number> {
  const { positional, flags, options, config: rest } = parse(args);
  const [action, ...params] = positional;
  const need = (n: number): boolean => params.length === n;
  const known: Record<string, boolean> = {
    list: need(0),
    create: need(1),
    grant: need(2),
    'revoke-role': need(2),
    disable: need(1),
    enable: need(1),
    'reset-password': need(1),
    invite: need(0),
    invites: need(0),
    uninvite: need(1),
  };
  if (action === undefined || !known[action]) {
    console.error(USAGE);
    return 1;
  }
  const config = loadConfig({ args: rest });
  // Read the password before opening the store: a prompt must not hold the database open.
  const password = action === 'create' || action === 'reset-password' ? await readPassword(flags.has('password-stdin')) : undefined;
  const store = await openStore(config);
  try {
    const admin = cliAdmin(store, config);
    switch (action) {
      case 'list': {
        const rows = await store.listUsers({ search: options.search, limit: Math.min(Math.max(Number(options.limit ?? 100) || 100, 1), 10_000) });
        for (const u of rows) {
          console.log(`${u.name.padEnd(32)} ${u.id.padEnd(38)} ${u.disabled ? 'disabled' : 'active  '} ${new Date(u.createdAt).toISOString()} ${u.roles.join(',') || '-'}`);
        }
        console.log(`${rows.length} account(s)`);
        return 0;
      }
      case 'create': {
        const roles = [...(flags.has('admin') ? ['admin'] : []), ...(options.role ? options.role.split(',').map((r) => r.trim()) : [])];
        const result = await admin.create({ username: params[0]!, password: password!, roles }, CLI);
        if (!result.ok) return fail(result.message);
        console.log(`created ${result.value.id}${roles.length ? ` with roles ${roles.join(',')}` : ''}`);
        return 0;
      }
      case 'grant':
      case 'revoke-role': {
        const result = action === 'grant' ? await admin.grant(params[0]!, params[1]!, CLI) : await admin.revokeRole(params[0]!, params[1]!, CLI);
        if (!result.ok) return fail(result.message);
        console.log(`${result.value.id} roles: ${result.value.roles.join(',') || '-'}`);
        return 0;
      }
      case 'disable':
      case 'enable': {
        const result = await admin.setDisabled(params[0]!, action === 'disable', CLI);
        if (!result.ok) return fail(result.message);
        console.log(`${action}d ${result.value.id}${action === 'disable' ? '; a running server closes its connections within a second' : ''}`);
        return 0;
      }
      case 'reset-password': {
        const result = await admin.resetPassword(params[0]!, password!, CLI);
        if (!result.ok) return fail(result.message);
        console.log(`new password set for ${result.value.id}; its sessions are signed out`);
        return 0;
      }
      case 'invite': {
        const ttl = options.for ? parseDuration(options.for) : config.accounts.inviteTtlMs;
        const invite = await createInvite(store, 'cli', ttl);
        store.recordSecurityEvent({ ts: Date.now(), type: 'admin_action', severity: SECURITY_EVENTS.admin_action, detail: { action: 'invite', target: invite.id, by: 'cli' } });
        console.log(invite.code);
        console.error(
          `invitation ${invite.id}, single use, valid until ${new Date(invite.expiresAt).toISOString()}${config.accounts.registration === 'invite' ? '' : ` (note: accounts.registration is ${config.accounts.registration})`}`,
        );
        return 0;
      }
      case 'invites': {
        const rows = await store.listInvites(200);
        for (const i of rows) {
          console.log(`${i.id}  ${inviteState(i).padEnd(8)} created ${new Date(i.createdAt).toISOString()} by ${i.createdBy}${i.usedBy ? `, used by ${i.usedBy}` : ''}`);
        }
        console.log(`${rows.length} invitation(s)`);
        return 0;
      }
      case 'uninvite': {
        if (!(await store.revokeInvite(params[0]!))) return fail(`no unused invitation ${params[0]!}`);
        store.recordSecurityEvent({ ts: Date.now(), type: 'admin_action', severity: SECURITY_EVENTS.admin_action, detail: { action: 'uninvite', target: params[0]!, by: 'cli' } });
        console.log(`invitation ${params[0]!} expired`);
        return 0;
      }
    }
    return 1;
  } finally {
    await store.close();
  }
}
