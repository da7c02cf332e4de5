/** Built-in accounts (search, disable, enable, sign out everywhere) and invitation codes. */
import { field, h } from '../dom.js';
import type { AdminApi } from './api.js';
import type { Actions } from './connections.js';
import { dateTime, emptyRow, panel, remaining, type Notices } from './ui.js';

interface WireUser {
  id: string;
  name: string;
  roles: string[];
  disabled: boolean;
  createdAt: number;
}

interface WireInvite {
  id: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedBy: string | null;
  state: 'open' | 'used' | 'expired' | 'revoked';
}

const VALIDITY: Array<[string, number]> = [
  ['1 day', 86_400_000],
  ['7 days', 7 * 86_400_000],
  ['30 days', 30 * 86_400_000],
];

export function usersPanel(api: AdminApi, notes: Notices, act: Actions): { element: HTMLElement; refresh(): Promise<void> } {
  const search = h('input', { name: 'search', placeholder: 'username', autocomplete: 'off', spellcheck: 'false', maxlength: '32' });
  const body = h('tbody', {});
  const table = h(
    'table',
    { class: 'users', 'aria-label': 'Accounts' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Account'), h('th', {}, 'Roles'), h('th', {}, 'State'), h('th', {}, 'Created'), h('th', {}, 'Actions'))),
    body,
  );
  const validity = h('select', { name: 'validity' }, ...VALIDITY.map(([label, ms]) => h('option', { value: String(ms), selected: ms === 7 * 86_400_000 }, label)));
  const create = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Create invitation');
  const codeBox = h('output', { class: 'code', 'aria-live': 'polite', hidden: true });
  const inviteForm = h('form', { class: 'toolbar', 'aria-label': 'Create an invitation' }, field('Valid for', validity, 'field field--inline'), create);
  const mode = h('p', { class: 'hint' });
  const invites = h('ul', { class: 'invites' });
  const element = panel(
    'users',
    'Accounts and invitations',
    field('Search accounts', search, 'field field--inline'),
    h('div', { class: 'scroll' }, table),
    h('h3', {}, 'Invitations'),
    mode,
    inviteForm,
    codeBox,
    invites,
  );

  const button = (label: string, onClick: () => void, danger = false): HTMLButtonElement => {
    const b = h('button', { type: 'button', class: `link-btn${danger ? ' link-btn--danger' : ''}` }, label);
    b.addEventListener('click', onClick);
    return b;
  };

  const refresh = async (): Promise<void> => {
    const [{ users }, list] = await Promise.all([
      api.get<{ users: WireUser[] }>('users', { search: search.value.trim().toLowerCase() || undefined }),
      api.get<{ registration: string; invites: WireInvite[] }>('invites'),
    ]);
    body.replaceChildren(
      ...users.map((u) =>
        h(
          'tr',
          { 'data-user': u.id },
          h('td', {}, h('strong', {}, u.name), h('br', {}), h('span', { class: 'mono muted' }, u.id)),
          h('td', {}, u.roles.length ? u.roles.join(', ') : h('span', { class: 'muted' }, '–')),
          h('td', {}, u.disabled ? h('span', { class: 'badge badge--error' }, 'disabled') : 'active'),
          h('td', {}, dateTime(u.createdAt)),
          h(
            'td',
            { class: 'actions' },
            u.disabled ? button('Enable', () => void act.disable(u.id, false)) : button('Disable', () => void act.disable(u.id, true), true),
            button('Sign out everywhere', () => void act.revoke(u.id), true),
          ),
        ),
      ),
    );
    if (users.length === 0)
      body.append(emptyRow(5, search.value.trim() ? 'No account matches.' : 'No built-in accounts yet. Create one with bulwark users create, or invite someone below.'));
    mode.textContent =
      list.registration === 'invite'
        ? 'Registration is by invitation (accounts.registration: invite): each code lets one person create an account.'
        : list.registration === 'open'
          ? 'Registration is open (accounts.registration: open): anyone may create an account; codes are not needed.'
          : 'Registration is closed (accounts.registration: closed): codes are not accepted; create accounts with bulwark users create.';
    invites.replaceChildren(
      ...list.invites.map((i) =>
        h(
          'li',
          {},
          h('span', { class: 'mono' }, i.id),
          ` · ${i.state}`,
          i.state === 'open' ? ` · ${remaining(i.expiresAt)}` : '',
          i.usedBy ? ` · used by ${i.usedBy}` : '',
          h('span', { class: 'muted' }, ` · by ${i.createdBy}, ${dateTime(i.createdAt)}`),
        ),
      ),
    );
    if (list.invites.length === 0) invites.append(h('li', { class: 'muted' }, 'No invitations yet.'));
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener('input', () => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => void refresh().catch((e: unknown) => notes.fail(e, 'load the accounts')), 300);
  });
  inviteForm.addEventListener('submit', (event) => {
    event.preventDefault();
    create.disabled = true;
    api
      .post<{ id: string; code: string; expiresAt: number }>('invites', { ttlMs: Number(validity.value) })
      .then((invite) => {
        codeBox.hidden = false;
        codeBox.textContent = `Invitation code (shown only now): ${invite.code} — valid until ${dateTime(invite.expiresAt)}, for one account.`;
        notes.ok(`Created invitation ${invite.id}. Copy the code now: it is not shown again.`);
        return refresh();
      })
      .catch((error: unknown) => notes.fail(error, 'create the invitation'))
      .finally(() => (create.disabled = false));
  });
  return { element, refresh };
}
