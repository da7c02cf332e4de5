/**
 * The sign-in screen shared by the chat and the admin console: log in, or create an account. What
 * registration needs follows the server (`GET /api/auth/options`): an invitation code field when
 * registration is by invitation, no "Create account" when it is closed.
 */
import { field, h } from './dom.js';
import { ApiError, type Session, type SessionUser } from './session.js';

export function authView(root: HTMLElement, session: Session, title: string, onSignedIn: (user: SessionUser) => void, notice?: string, intro?: string): void {
  const username = h('input', { name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true, maxlength: '32' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: '1024' });
  const alert = h('p', { role: 'alert', class: 'feedback' });
  if (notice) alert.textContent = notice;
  const invite = h('input', { name: 'invite', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: '64' });
  const inviteField = field('Invitation code (only to create an account)', invite);
  inviteField.hidden = true;
  const login = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Log in');
  const register = h('button', { type: 'button', class: 'btn' }, 'Create account');
  const hint = h('p', { class: 'hint' }, 'New here? Pick a username (3–32 of a–z, 0–9, . _ -) and a password of at least 10 characters, then choose Create account.');
  const form = h(
    'form',
    { class: 'auth card', novalidate: true },
    h('h1', { class: 'auth__title' }, title),
    intro ? h('p', { class: 'hint' }, intro) : null,
    field('Username', username),
    field('Password', password),
    inviteField,
    hint,
    alert,
    h('div', { class: 'auth__actions' }, login, register),
  );
  void session.registration().then((mode) => {
    if (mode === 'invite') {
      inviteField.hidden = false;
      hint.textContent =
        'New here? Registration is by invitation: enter the code an administrator gave you, pick a username and a password of at least 10 characters, then choose Create account.';
    } else if (mode === 'closed') {
      register.hidden = true;
      hint.textContent = 'Registration is closed on this server: an administrator creates accounts.';
    }
  });

  const run = async (action: 'login' | 'register'): Promise<void> => {
    const name = username.value.trim().toLowerCase();
    if (!name || !password.value) {
      alert.textContent = 'Enter a username and a password.';
      return;
    }
    login.disabled = register.disabled = true;
    alert.textContent = action === 'login' ? 'Logging in…' : 'Creating your account…';
    try {
      const user = action === 'login' ? await session.login(name, password.value) : await session.register(name, password.value, invite.value.trim() || undefined);
      onSignedIn(user);
    } catch (error) {
      alert.textContent = describe(error, action);
      login.disabled = register.disabled = false;
      password.select();
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run('login');
  });
  register.addEventListener('click', () => void run('register'));
  root.replaceChildren(h('main', { class: 'auth-page' }, form));
  username.focus();
}

function describe(error: unknown, action: 'login' | 'register'): string {
  if (!(error instanceof ApiError)) return 'The server could not be reached. Check your connection and try again.';
  if (error.status === 429) {
    const s = Math.max(1, Math.ceil((error.retryAfterMs ?? 60_000) / 1000));
    return `Too many attempts. Try again in ${s} s.`;
  }
  if (error.status === 409) return 'That username is taken. Pick another one, or log in.';
  if (error.status === 403) return error.message;
  if (error.status === 401) return action === 'login' ? 'Wrong username or password.' : error.message;
  return error.message;
}
