/**
 * `bulwark apikeys create | list | revoke`: keys of the server API for backends (docs/protocol.md
 * "Server API", src/api/keys.ts). The key is printed once on stdout; the store keeps only its
 * hash, so `list` shows ids, names, scopes and states, never keys. Works while the server runs: a
 * running server sees a new or revoked key within a second.
 */
import { API_SCOPES, apiKeyState, createApiKey, parseScopes } from '../api/keys.js';
import { SECURITY_EVENTS } from '../security/events.js';
import type { Store } from '../store/store.js';
import { positionals, UsageError } from './args.js';
import type { Command } from './command.js';
import { CliError, resolveContext } from './context.js';
import { durationOption } from './durations.js';
import { withStore } from './open-store.js';

function recordCliAction(store: Store, action: string, target: string, detail?: Record<string, unknown>): void {
  store.recordSecurityEvent({ ts: Date.now(), type: 'admin_action', severity: SECURITY_EVENTS.admin_action, detail: { action, target, by: 'cli', ...detail } });
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

const CREATE_USAGE = 'bulwark apikeys create --scopes publish,history[,broadcast,presence,admin] [--name NAME] [--expires 30d]';
const create: Command = {
  summary: 'create a server API key and print it once',
  usage: CREATE_USAGE,
  description: `The key (bwk_…) is printed once on stdout and never stored, only its SHA-256: keep it in your backend's secret store. Scopes: ${API_SCOPES.join(', ')}. A backend sends it as "Authorization: Bearer bwk_…".`,
  options: {
    scopes: { type: 'string', value: 'LIST', help: `comma-separated scopes: ${API_SCOPES.join(', ')}` },
    name: { type: 'string', value: 'NAME', help: 'a label for listings (default "api key")' },
    expires: { type: 'string', value: 'DURATION', help: 'the key stops working after this long (e.g. 30d); default never' },
  },
  config: true,
  async run(args) {
    positionals(args, 0, CREATE_USAGE);
    if (args.options.scopes === undefined) throw new UsageError(`--scopes is required: ${CREATE_USAGE}`);
    let scopes;
    try {
      scopes = parseScopes(args.options.scopes);
    } catch (error) {
      throw new UsageError(`--scopes ${args.options.scopes}: ${(error as Error).message}`);
    }
    const name = (args.options.name ?? 'api key').trim();
    if (name.length === 0 || name.length > 64 || /[\u0000-\u001f\u007f]/.test(name)) throw new UsageError('--name: 1 to 64 printable characters');
    const ttlMs = args.options.expires === undefined ? undefined : durationOption('expires', args.options.expires);
    const created = await withStore(resolveContext(args), async (store) => {
      const made = await createApiKey(store, { name, scopes, ttlMs });
      recordCliAction(store, 'apikey_create', made.record.id, { scopes: made.record.scopes, expiresAt: made.record.expiresAt });
      return made;
    });
    console.log(created.key);
    const { record } = created;
    console.error(`api key ${record.id} "${record.name}", scopes ${record.scopes.join(',')}, ${record.expiresAt === null ? 'no expiry' : `expires ${iso(record.expiresAt)}`}`);
    console.error('the key is shown only now: store it in your backend; it cannot be recovered, only revoked');
    return 0;
  },
};

const list: Command = {
  summary: 'list server API keys by id, name, scopes and state (never the keys themselves)',
  usage: 'bulwark apikeys list',
  options: {},
  config: true,
  async run(args) {
    positionals(args, 0, 'bulwark apikeys list');
    const rows = await withStore(resolveContext(args), (store) => store.listApiKeys(1000));
    const now = Date.now();
    for (const k of rows) {
      console.log(
        `${k.id}  ${apiKeyState(k, now).padEnd(7)}  ${k.name.padEnd(24)}  ${k.scopes.join(',').padEnd(24)}  created ${iso(k.createdAt)}  expires ${iso(k.expiresAt)}  last used ${iso(k.lastUsedAt)}  uses ${k.uses}${k.revokedAt !== null ? `  revoked ${iso(k.revokedAt)}` : ''}`,
      );
    }
    console.log(`${rows.length} api key(s)`);
    return 0;
  },
};

const revoke: Command = {
  summary: 'revoke a server API key by its id (a running server refuses it within a second)',
  usage: 'bulwark apikeys revoke ID',
  options: {},
  config: true,
  async run(args) {
    const [id] = positionals(args, 1, 'bulwark apikeys revoke ID') as [string];
    await withStore(resolveContext(args), async (store) => {
      if (!(await store.revokeApiKey(id, Date.now()))) throw new CliError(`no unrevoked api key ${id}`);
      recordCliAction(store, 'apikey_revoke', id);
    });
    console.log(`api key ${id} revoked`);
    return 0;
  },
};

export const apikeys: Command = {
  summary: 'server API keys for backends: apikeys create | list | revoke',
  usage: 'bulwark apikeys <sub-command>',
  description: 'Keys for /api/v1 (docs/protocol.md "Server API"). Works while the server runs.',
  options: {},
  config: true,
  subcommands: { create, list, revoke },
};
