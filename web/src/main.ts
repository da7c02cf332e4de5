/**
 * The chat web app's entry: resume the session from the refresh cookie, else sign in; then the
 * chat (`chat.ts`).
 */
import { authView } from './auth-view.js';
import { chat } from './chat.js';
import { h } from './dom.js';
import { Session, type SessionUser } from './session.js';

const root = document.getElementById('app')!;
const session = new Session();

function signIn(notice?: string): void {
  authView(root, session, 'Bulwark chat', open, notice);
}

function open(user: SessionUser): void {
  chat(root, session, user, signIn);
}

void (async () => {
  root.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  const user = await session.resume();
  if (user) open(user);
  else signIn();
})();
