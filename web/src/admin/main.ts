/**
 * The admin console (`/admin`, docs/admin.md "The admin console"): sign in with an account that
 * has the `admin` role, then live numbers, stored security events, live connections and the
 * actions on them, bans, accounts and invitations, and announcements — all through
 * `/api/admin/*`. The server decides who is an admin; this page only avoids offering what a
 * non-admin could not use.
 */
import { authView } from '../auth-view.js';
import { h } from '../dom.js';
import { Session, type SessionUser } from '../session.js';
import { announcePanel } from './announce.js';
import { AdminApi, SessionEnded } from './api.js';
import { bansPanel } from './bans.js';
import { actions, connectionsPanel } from './connections.js';
import { eventsPanel } from './events.js';
import { livePanel } from './live.js';
import { notices, describe } from './ui.js';
import { usersPanel } from './users.js';

const root = document.getElementById('app')!;
const session = new Session();
const FAST_MS = 2000;
const SLOW_MS = 5000;

void (async () => {
  root.replaceChildren(h('p', { class: 'loading' }, 'Loading the admin console…'));
  const user = await session.resume();
  if (user) consoleView(user);
  else signIn();
})();

function signIn(notice?: string): void {
  authView(root, session, 'Bulwark admin', consoleView, notice, 'Sign in with an account that has the admin role.');
}

function logout(): void {
  void session.logout().then(() => signIn('Signed out.'));
}

function notAdmin(user: SessionUser): void {
  const out = h('button', { type: 'button', class: 'btn' }, 'Sign in as someone else');
  out.addEventListener('click', logout);
  root.replaceChildren(
    h(
      'main',
      { class: 'auth-page' },
      h(
        'div',
        { class: 'card auth' },
        h('h1', { class: 'auth__title' }, 'Administrators only'),
        h('p', {}, `You are signed in as ${user.name}, without the admin role.`),
        h('p', { class: 'hint' }, `An administrator can grant it: bulwark users grant ${user.name} admin — then sign in again.`),
        h('div', { class: 'auth__actions' }, out, h('a', { href: '/', class: 'btn btn--quiet' }, 'Back to chat')),
      ),
    ),
  );
}

function consoleView(user: SessionUser): void {
  if (!user.roles.includes('admin')) return notAdmin(user);
  const timers: Array<ReturnType<typeof setInterval>> = [];
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    for (const t of timers) clearInterval(t);
  };
  const api = new AdminApi(session, () => {
    end();
    signIn('Your session ended. Sign in again.');
  });
  const notes = notices();

  const live = livePanel(api);
  const events = eventsPanel(api, notes);
  // After an action, what it changed is shown at once rather than at the next poll (the panels
  // below exist by the time an action can run).
  const changed = (): void => {
    void Promise.all([connections.refresh(), bans.refresh(), users.refresh(), events.tail()]).catch(report('refresh'));
  };
  const act = actions(api, notes, changed);
  const connections = connectionsPanel(api, notes, act);
  const bans = bansPanel(api, notes, changed);
  const users = usersPanel(api, notes, act);

  const signOut = h('button', { type: 'button', class: 'btn btn--quiet' }, 'Log out');
  signOut.addEventListener('click', () => {
    end();
    logout();
  });
  const nav = h(
    'nav',
    { class: 'admin-nav', 'aria-label': 'Sections' },
    ...[
      ['#live', 'Live'],
      ['#events', 'Events'],
      ['#connections', 'Connections'],
      ['#bans', 'Bans'],
      ['#users', 'Accounts'],
      ['#announce', 'Announce'],
    ].map(([href, label]) => h('a', { href: href! }, label!)),
  );
  root.replaceChildren(
    h(
      'div',
      { class: 'shell admin-shell' },
      h(
        'header',
        { class: 'topbar' },
        h('span', { class: 'topbar__brand' }, 'Bulwark admin'),
        nav,
        h('span', { class: 'topbar__user' }, `${user.name} (admin)`),
        h('a', { href: '/', class: 'btn btn--quiet' }, 'Chat'),
        signOut,
      ),
      notes.element,
      h(
        'main',
        { class: 'admin-main' },
        live.element,
        events.element,
        connections.element,
        h('div', { class: 'admin-pair' }, bans.element, announcePanel(api, notes)),
        users.element,
      ),
    ),
  );

  let lastProblem = '';
  function report(doing: string): (error: unknown) => void {
    return (error) => {
      if (error instanceof SessionEnded) return;
      // A poll that keeps failing says so once, not every two seconds.
      const message = describe(error);
      if (message === lastProblem) return;
      lastProblem = message;
      notes.fail(error, doing);
    };
  }
  const ok = (): void => {
    lastProblem = '';
  };

  void Promise.all([live.refresh(), events.reload(), connections.refresh(), bans.refresh(), users.refresh()]).then(ok, report('load the console'));
  timers.push(
    setInterval(() => void Promise.all([live.refresh(), events.tail()]).then(ok, report('refresh the live view')), FAST_MS),
    setInterval(() => void Promise.all([connections.refresh(), bans.refresh()]).then(ok, report('refresh the connections')), SLOW_MS),
  );
}
