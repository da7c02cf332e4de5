/**
 * Live connections on every node (the server gathers them over the bus), with the actions an
 * operator reaches for under attack: kick, ban the user or the IP for a while, mute, sign the
 * user out everywhere, disable the account. Every action asks first and reports plainly.
 */
import { field, h } from '../dom.js';
import type { AdminApi } from './api.js';
import { ago, BAN_DURATIONS, confirmAction, emptyRow, MUTE_DURATIONS, panel, type Notices } from './ui.js';

export interface WireConnection {
  node: string;
  id: string;
  user?: string;
  name?: string;
  ip: string;
  transport: string;
  since: number;
  rooms: string[];
  admin: boolean;
}

interface Listing {
  connections: WireConnection[];
  nodes: Array<{ node: string; total: number }>;
  truncated: boolean;
  waitedMs: number;
}

export interface Actions {
  kick(target: { connection: string } | { user: string }, label: string): Promise<void>;
  ban(kind: 'user' | 'ip', value: string): Promise<void>;
  mute(user: string): Promise<void>;
  revoke(user: string): Promise<void>;
  disable(user: string, disabled: boolean): Promise<void>;
}

/** The actions, shared by the connection list and the account list. */
export function actions(api: AdminApi, notes: Notices, changed: () => void): Actions {
  const run = async (doing: string, call: () => Promise<unknown>, done: string): Promise<void> => {
    try {
      await call();
      notes.ok(done);
      changed();
    } catch (error) {
      notes.fail(error, doing);
    }
  };
  return {
    async kick(target, label) {
      const all = 'user' in target;
      const ok = await confirmAction({
        title: all ? `Disconnect every connection of ${label}?` : `Disconnect ${label}?`,
        body: 'The connection closes at once (code 4403). The user may connect again: ban them to keep them out.',
        action: 'Disconnect',
        danger: true,
      });
      if (ok === undefined) return;
      await run('disconnect', () => api.post('kick', target), `Disconnected ${label}.`);
    },
    async ban(kind, value) {
      const ms = await confirmAction({
        title: `Ban ${kind === 'ip' ? 'the IP address' : 'the user'} ${value}?`,
        body:
          kind === 'ip'
            ? 'New connections from this address are refused (403) until the ban ends.'
            : "The user's connections close now (4403) and new ones are refused until the ban ends.",
        action: 'Ban',
        danger: true,
        duration: { label: 'For', choices: BAN_DURATIONS, initial: 3_600_000 },
      });
      if (ms === undefined) return;
      await run(
        'ban',
        () => api.post('bans', { kind, value, durationMs: ms }),
        `Banned ${kind === 'ip' ? 'IP' : 'user'} ${value} for ${BAN_DURATIONS.find(([, d]) => d === ms)?.[0] ?? `${ms} ms`}.`,
      );
    },
    async mute(user) {
      const ms = await confirmAction({
        title: `Mute ${user}?`,
        body: 'Their messages are refused (SPAM, with the time left) on every node until the mute ends. They stay connected.',
        action: 'Mute',
        duration: { label: 'For', choices: MUTE_DURATIONS, initial: 3_600_000 },
      });
      if (ms === undefined) return;
      await run('mute', () => api.post('mute', { user, durationMs: ms }), `Muted ${user} for ${MUTE_DURATIONS.find(([, d]) => d === ms)?.[0] ?? `${ms} ms`}.`);
    },
    async revoke(user) {
      const ok = await confirmAction({
        title: `Sign ${user} out everywhere?`,
        body: 'Every token issued to them until now stops working and their connections close (4401). They can sign in again.',
        action: 'Sign out everywhere',
        danger: true,
      });
      if (ok === undefined) return;
      await run('sign out', () => api.post('revoke', { user }), `Signed ${user} out everywhere.`);
    },
    async disable(user, disabled) {
      const ok = await confirmAction({
        title: disabled ? `Disable the account ${user}?` : `Enable the account ${user}?`,
        body: disabled ? 'The account cannot sign in or refresh its session; its connections close now (4403). You can enable it again later.' : 'The account can sign in again.',
        action: disabled ? 'Disable' : 'Enable',
        danger: disabled,
      });
      if (ok === undefined) return;
      await run(
        disabled ? 'disable the account' : 'enable the account',
        () => api.post(disabled ? 'users/disable' : 'users/enable', { user }),
        `${disabled ? 'Disabled' : 'Enabled'} ${user}.`,
      );
    },
  };
}

export function connectionsPanel(api: AdminApi, notes: Notices, act: Actions): { element: HTMLElement; refresh(): Promise<void> } {
  const filter = h('input', { name: 'filter', placeholder: 'user id or IP', autocomplete: 'off', spellcheck: 'false', maxlength: '128' });
  const refreshButton = h('button', { type: 'button', class: 'btn' }, 'Refresh');
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' }, 'Loading connections…');
  const body = h('tbody', {});
  const table = h(
    'table',
    { class: 'connections', 'aria-label': 'Live connections' },
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, 'User'), h('th', {}, 'IP'), h('th', {}, 'Transport'), h('th', {}, 'Since'), h('th', {}, 'Rooms'), h('th', {}, 'Node'), h('th', {}, 'Actions')),
    ),
    body,
  );
  const element = panel(
    'connections',
    'Live connections',
    h('div', { class: 'toolbar' }, field('Filter', filter, 'field field--inline'), refreshButton),
    summary,
    h('div', { class: 'scroll' }, table),
  );

  const button = (label: string, onClick: () => void, danger = false): HTMLButtonElement => {
    const b = h('button', { type: 'button', class: `link-btn${danger ? ' link-btn--danger' : ''}` }, label);
    b.addEventListener('click', onClick);
    return b;
  };

  const row = (c: WireConnection): HTMLTableRowElement => {
    const who = c.user ?? '';
    const buttons: HTMLButtonElement[] = [button('Kick', () => void act.kick({ connection: c.id }, `connection ${c.id}${who ? ` of ${who}` : ''}`), true)];
    if (c.user) {
      buttons.push(
        button('Kick user', () => void act.kick({ user: who }, who), true),
        button('Ban user', () => void act.ban('user', who), true),
        button('Mute', () => void act.mute(who)),
        button('Sign out', () => void act.revoke(who), true),
      );
      if (who.startsWith('acct:')) buttons.push(button('Disable', () => void act.disable(who, true), true));
    }
    buttons.push(button('Ban IP', () => void act.ban('ip', c.ip), true));
    return h(
      'tr',
      { 'data-connection': c.id },
      h(
        'td',
        {},
        c.user
          ? h(
              'span',
              {},
              h('strong', {}, c.name ?? c.user),
              h('br', {}),
              h('span', { class: 'mono muted' }, c.user),
              c.admin ? h('span', { class: 'badge badge--info' }, ' admin') : null,
            )
          : h('span', { class: 'muted' }, 'not signed in yet'),
      ),
      h('td', { class: 'mono' }, c.ip),
      h('td', {}, c.transport),
      h('td', {}, h('time', { datetime: new Date(c.since).toISOString(), title: new Date(c.since).toLocaleString() }, ago(c.since))),
      h('td', {}, c.rooms.length ? c.rooms.join(', ') : h('span', { class: 'muted' }, '–')),
      h('td', { class: 'mono' }, c.node),
      h('td', { class: 'actions' }, ...buttons),
    );
  };

  const refresh = async (): Promise<void> => {
    const value = filter.value.trim();
    const isIp = /^[0-9a-f.:]+$/i.test(value) && /[.:]/.test(value) && !value.startsWith('acct:');
    const listing = await api.get<Listing>('connections', value ? (isIp ? { ip: value } : { user: value }) : {});
    body.replaceChildren(...listing.connections.map(row));
    const total = listing.nodes.reduce((n, x) => n + x.total, 0);
    if (listing.connections.length === 0) {
      body.append(emptyRow(7, value ? `No live connection of ${value}.` : 'No live connections right now. Clients appear here as soon as they connect.'));
    }
    const nodes = listing.nodes.length;
    summary.textContent = `${total} connection${total === 1 ? '' : 's'}${value ? ` matching ${value}` : ''} on ${nodes} node${nodes === 1 ? '' : 's'}${listing.waitedMs ? ` (nodes that answered within ${listing.waitedMs} ms)` : ''}${listing.truncated ? '; the newest are shown' : ''}.`;
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  filter.addEventListener('input', () => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => void refresh().catch((e: unknown) => notes.fail(e, 'load the connections')), 300);
  });
  refreshButton.addEventListener('click', () => void refresh().catch((e: unknown) => notes.fail(e, 'load the connections')));
  return { element, refresh };
}
