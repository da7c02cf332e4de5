/**
 * `bulwark users <sub-command>`: built-in accounts, their roles and invitation codes, against the
 * configured store. Works while the server runs: it writes the store, and the server applies a
 * disable (closing the user's connections) or a role taken away within a second, as it does bans
 * and revocations (it polls the revocation log). The first administrator of a fresh install:
 * `bulwark users create alice --admin` (asks for the password twice on a terminal; scripts pass
 * it on standard input with `--password-stdin`).
 */
import { storeRevocations, UserAdmin, type Actor, type AdminResult } from '../auth/user-admin.js';
import { SECURITY_EVENTS } from '../security/events.js';
import type { Store, UserRecord } from '../store/store.js';
import { positionals, UsageError, type Parsed } from './args.js';
import type { Command } from './command.js';
import { CliError, requireExistingData, resolveContext, type CliContext } from './context.js';
import { invite, invites, uninvite } from './invites.js';
import { withStore } from './open-store.js';
import { readPassword } from './password-prompt.js';

const CLI: Actor = { via: 'cli' };
const USER_HELP = 'USER is a username (alice) or an account id (acct:alice).';
const PASSWORD_STDIN = { type: 'boolean', help: 'read the password from the first line of standard input instead of asking twice on the terminal' } as const;

/** The account administration the console uses too; its events are stored as `admin_action` rows. */
function cliAdmin(store: Store, context: CliContext): UserAdmin {
  return new UserAdmin({
    store,
    auth: context.config.auth,
    revocations: storeRevocations(store),
    record: (action, actor, target, detail) =>
      store.recordSecurityEvent({
        ts: Date.now(),
        type: 'admin_action',
        severity: SECURITY_EVENTS.admin_action,
        user: actor.id,
        detail: { action, target, by: actor.via, ...detail },
      }),
  });
}

/** Runs one account change; a refusal (no such account, a weak password, …) is a one-line error. */
async function change(context: CliContext, work: (admin: UserAdmin) => Promise<AdminResult<UserRecord>>): Promise<UserRecord> {
  const result = await withStore(context, (store) => work(cliAdmin(store, context)));
  if (!result.ok) throw new CliError(result.message);
  return result.value;
}

/**
 * The password, read after the data directory is checked (nobody types a password to learn the
 * directory is wrong) and before the store is opened (a prompt must not hold the database open).
 */
async function passwordFor(args: Parsed): Promise<{ context: CliContext; password: string }> {
  const context = resolveContext(args);
  requireExistingData(context);
  return { context, password: await readPassword(args.options['password-stdin'] === 'true') };
}

const LIST_USAGE = 'bulwark users list [--search TEXT] [--limit 100]';
const list: Command = {
  summary: 'list accounts, with their roles and state',
  usage: LIST_USAGE,
  options: {
    search: { type: 'string', value: 'TEXT', help: 'only usernames containing TEXT' },
    limit: { type: 'string', value: 'N', help: 'at most N accounts (default 100, max 10000)' },
  },
  config: true,
  async run(args) {
    positionals(args, 0, LIST_USAGE);
    const limit = Number(args.options.limit ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit ${args.options.limit}: expected a whole number from 1 to 10000`);
    const rows = await withStore(resolveContext(args), (store) => store.listUsers({ search: args.options.search, limit }));
    for (const u of rows) {
      console.log(`${u.name.padEnd(32)} ${u.id.padEnd(38)} ${u.disabled ? 'disabled' : 'active  '} ${new Date(u.createdAt).toISOString()} ${u.roles.join(',') || '-'}`);
    }
    console.log(`${rows.length} account(s)`);
    return 0;
  },
};

const CREATE_USAGE = 'bulwark users create USERNAME [--admin] [--role R] [--password-stdin]';
const create: Command = {
  summary: 'create an account (asks for the password, or reads it from stdin)',
  usage: CREATE_USAGE,
  description: 'The first administrator of a fresh install: bulwark users create alice --admin. The account id is acct:USERNAME.',
  options: {
    admin: { type: 'boolean', help: 'give the admin role (the admin console and admin actions)' },
    role: { type: 'string', value: 'a,b', help: 'comma-separated roles to give' },
    'password-stdin': PASSWORD_STDIN,
  },
  config: true,
  async run(args) {
    const [username] = positionals(args, 1, CREATE_USAGE) as [string];
    const roles = [
      ...(args.options.admin === 'true' ? ['admin'] : []),
      ...(args.options.role ?? '')
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    ];
    const { context, password } = await passwordFor(args);
    const user = await change(context, (admin) => admin.create({ username, password, roles }, CLI));
    console.log(`created ${user.id}${roles.length ? ` with roles ${roles.join(',')}` : ''}`);
    return 0;
  },
};

function roleCommand(kind: 'grant' | 'revoke-role'): Command {
  const usage = `bulwark users ${kind} USER ROLE`;
  return {
    summary: kind === 'grant' ? 'give a role (admin: the admin console and admin actions)' : "take a role away; the user's current tokens stop working",
    usage,
    description: `${USER_HELP}${kind === 'grant' ? ' The role is in the next access token (at the next refresh).' : ' Tokens that carried the role are refused at once and live connections close 4401; a refresh yields a token without it.'}`,
    options: {},
    config: true,
    async run(args) {
      const [ref, role] = positionals(args, 2, usage) as [string, string];
      const user = await change(resolveContext(args), (admin) => (kind === 'grant' ? admin.grant(ref, role, CLI) : admin.revokeRole(ref, role, CLI)));
      console.log(`${user.id} roles: ${user.roles.join(',') || '-'}`);
      return 0;
    },
  };
}

function stateCommand(kind: 'disable' | 'enable'): Command {
  const usage = `bulwark users ${kind} USER`;
  return {
    summary: kind === 'disable' ? "no more logins; the user's connections close within a second" : 'undo disable',
    usage,
    description: USER_HELP,
    options: {},
    config: true,
    async run(args) {
      const [ref] = positionals(args, 1, usage) as [string];
      const user = await change(resolveContext(args), (admin) => admin.setDisabled(ref, kind === 'disable', CLI));
      console.log(`${kind}d ${user.id}${kind === 'disable' ? '; a running server closes its connections within a second' : ''}`);
      return 0;
    },
  };
}

const RESET_USAGE = 'bulwark users reset-password USER [--password-stdin]';
const resetPassword: Command = {
  summary: 'set a new password; signs the user out everywhere',
  usage: RESET_USAGE,
  description: USER_HELP,
  options: { 'password-stdin': PASSWORD_STDIN },
  config: true,
  async run(args) {
    const [ref] = positionals(args, 1, RESET_USAGE) as [string];
    const { context, password } = await passwordFor(args);
    const user = await change(context, (admin) => admin.resetPassword(ref, password, CLI));
    console.log(`new password set for ${user.id}; its sessions are signed out`);
    return 0;
  },
};

export const users: Command = {
  summary: 'built-in accounts: list, create, grant/revoke-role, disable/enable, reset-password, invitation codes',
  usage: 'bulwark users <sub-command>',
  description: `Works while the server runs: a running server applies a disable or a role taken away within a second. ${USER_HELP}`,
  options: {},
  // Every sub-command reads the configuration: `bulwark users --data-dir DIR` still gets the usage.
  config: true,
  subcommands: {
    list,
    create,
    grant: roleCommand('grant'),
    'revoke-role': roleCommand('revoke-role'),
    disable: stateCommand('disable'),
    enable: stateCommand('enable'),
    'reset-password': resetPassword,
    invite,
    invites,
    uninvite,
  },
};
