/**
 * The admin console (`/admin`): live `security.alert` frames and the announcement form. The
 * server decides who is an admin (the `admin` role in the token); this page only hides what a
 * non-admin could not use anyway.
 */
import { BulwarkError, type SecurityAlertEvent } from '../../client/index.js';
import { authView } from './auth-view.js';
import { connectionBanner } from './banner.js';
import { field, formatTime, h } from './dom.js';
import { renderText } from './render.js';
import { Session, type SessionUser } from './session.js';

const root = document.getElementById('app')!;
const session = new Session();
const MAX_ALERTS = 500;

void (async () => {
  root.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  const user = await session.resume();
  if (user) consoleView(user);
  else authView(root, session, 'Bulwark admin', consoleView);
})();

function consoleView(user: SessionUser): void {
  if (!user.roles.includes('admin')) {
    root.replaceChildren(
      h(
        'main',
        { class: 'auth-page' },
        h(
          'div',
          { class: 'card' },
          h('h1', {}, 'Administrators only'),
          h('p', {}, `${user.name}, this console is for administrators.`),
          h('a', { href: '/', class: 'btn' }, 'Back to chat'),
        ),
      ),
    );
    return;
  }
  const client = session.connect();
  const banner = connectionBanner(client, () => undefined);
  const alerts = h('ol', { class: 'alerts' });
  const alertLog = h('div', { role: 'log', 'aria-label': 'Security alerts', class: 'log log--alerts' }, alerts);
  const text = h('textarea', { name: 'announcement', rows: '3', maxlength: '4000' });
  const feedback = h('p', { role: 'alert', class: 'feedback' });
  const submit = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Send announcement');
  const form = h('form', { class: 'card announce' }, h('h2', {}, 'Announcement to everyone'), field('Announcement', text), submit, feedback);
  const logout = h('button', { type: 'button', class: 'btn btn--quiet' }, 'Log out');
  root.replaceChildren(
    h(
      'div',
      { class: 'shell' },
      h(
        'header',
        { class: 'topbar' },
        h('span', { class: 'topbar__brand' }, 'Bulwark admin'),
        h('span', { class: 'topbar__user' }, user.name),
        h('a', { href: '/', class: 'btn btn--quiet' }, 'Chat'),
        logout,
      ),
      banner,
      h('main', { class: 'admin' }, form, h('section', { class: 'card' }, h('h2', {}, 'Live security alerts'), alertLog)),
    ),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    submit.disabled = true;
    client
      .request('admin.broadcast', { text: value })
      .then(() => {
        text.value = '';
        feedback.textContent = 'Announcement sent.';
      })
      .catch((error: unknown) => {
        feedback.textContent = error instanceof BulwarkError ? `Not sent: ${error.message}` : 'Not sent.';
      })
      .finally(() => (submit.disabled = false));
  });
  logout.addEventListener('click', () => {
    client.close();
    void session.logout().then(() => location.assign('/'));
  });

  client.on('security.alert', ({ event }) => {
    alerts.prepend(alertItem(event));
    while (alerts.childElementCount > MAX_ALERTS) alerts.lastElementChild?.remove();
  });
  client.on('announcement', ({ text: body, from, ts }) => {
    const li = h('li', { class: 'alert alert--info' }, h('strong', {}, `Announcement by ${from} · ${formatTime(ts)}`));
    li.append(renderText(body));
    alerts.prepend(li);
  });
}

/**
 * The server's own detail, then — set apart and labelled — what the client sent (`untrusted`:
 * origins, URLs, blocked-uri…), which must never read as an instruction from the server. Both are
 * text nodes: nothing in an alert is parsed as HTML.
 */
function alertDetail(detail: SecurityAlertEvent['detail']): HTMLElement[] {
  if (!detail) return [];
  const { untrusted, ...own } = detail;
  const parts: HTMLElement[] = [];
  if (Object.keys(own).length > 0) parts.push(h('pre', { class: 'alert__detail' }, JSON.stringify(own, null, 1)));
  if (untrusted && typeof untrusted === 'object') {
    parts.push(
      h('p', { class: 'alert__untrusted-label' }, 'Sent by the client (untrusted):'),
      h('pre', { class: 'alert__detail alert__untrusted' }, JSON.stringify(untrusted, null, 1)),
    );
  }
  return parts;
}

function alertItem(event: SecurityAlertEvent): HTMLLIElement {
  const who = [event.user && `user ${event.user}`, event.ip && `from ${event.ip}`].filter(Boolean).join(' ');
  return h(
    'li',
    { class: `alert alert--${/^[a-z]+$/.test(event.severity) ? event.severity : 'info'}` },
    h(
      'div',
      { class: 'alert__meta' },
      h('time', { datetime: new Date(event.ts).toISOString() }, formatTime(event.ts)),
      h('span', { class: 'alert__severity' }, event.severity),
      h('strong', {}, event.type),
    ),
    who ? h('p', {}, who) : null,
    ...alertDetail(event.detail),
  );
}
