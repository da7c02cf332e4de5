/**
 * The chat web app: sign in, rooms, history, replies, deletes, announcements — over the SDK,
 * which reconnects, resumes and keeps unsent messages in its outbox. Every piece of text from
 * the network reaches the page as text nodes or through DOMPurify (`render.ts`).
 */
import { BulwarkError, CLOSE, newId, type BulwarkClient, type LiveMessage, type Message, type Room } from '../../client/index.js';
import { authView } from './auth-view.js';
import { connectionBanner } from './banner.js';
import { field, formatTime, h } from './dom.js';
import { plainText, renderText } from './render.js';
import { watchRestrictions } from './restriction.js';
import { Session, type SessionUser } from './session.js';

const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const PAGE = 50;

const root = document.getElementById('app')!;
const session = new Session();

void (async () => {
  root.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  const user = await session.resume();
  if (user) chat(user);
  else signIn();
})();

function signIn(notice?: string): void {
  authView(root, session, 'Bulwark chat', chat, notice);
}

interface RoomView {
  name: string;
  info: Room | undefined;
  joined: boolean;
  list: HTMLOListElement;
  byId: Map<string, { el: HTMLLIElement; message: Message }>;
  oldestSeq: number | undefined;
  hasOlder: boolean;
  loadingOlder: boolean;
  unread: number;
}

function chat(user: SessionUser): void {
  const client: BulwarkClient = session.connect();
  const restrictions = watchRestrictions(client);
  const rooms = new Map<string, RoomView>();
  const isAdmin = user.roles.includes('admin');
  let current: RoomView | undefined;
  let replyTo: { id: string; author: string; excerpt: string } | undefined;
  let sendBlockedUntil = 0;

  // ---- layout ----
  const logout = h('button', { type: 'button', class: 'btn btn--quiet' }, 'Log out');
  const roomsToggle = h('button', { type: 'button', class: 'btn btn--quiet rooms-toggle', 'aria-expanded': 'true', 'aria-controls': 'sidebar' }, 'Rooms');
  const header = h(
    'header',
    { class: 'topbar' },
    roomsToggle,
    h('span', { class: 'topbar__brand' }, 'Bulwark'),
    h('span', { class: 'topbar__user' }, user.name),
    isAdmin ? h('a', { href: '/admin', class: 'btn btn--quiet' }, 'Admin') : null,
    logout,
  );
  const banner = connectionBanner(client, (code) => {
    if (code === CLOSE.UNAUTHENTICATED || code === CLOSE.FORBIDDEN) {
      client.close();
      signIn('Your session ended. Please log in again.');
    }
  });
  const announcements = h('section', { class: 'announcements', 'aria-label': 'Announcements' });

  const roomList = h('ul', { class: 'rooms' });
  const roomName = h('input', { name: 'room', autocomplete: 'off', autocapitalize: 'none', maxlength: '64', pattern: '[A-Za-z0-9_\\-]{1,64}' });
  const privateBox = h('input', { type: 'checkbox', name: 'private' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Create room');
  const joinBtn = h('button', { type: 'button', class: 'btn' }, 'Join room');
  const roomForm = h(
    'form',
    { class: 'room-form' },
    field('Room name', roomName),
    h('label', { class: 'check' }, privateBox, h('span', {}, 'Private room')),
    h('div', { class: 'room-form__actions' }, createBtn, joinBtn),
  );
  const sidebar = h(
    'aside',
    { class: 'sidebar sidebar--open', id: 'sidebar' },
    h('h2', { class: 'sidebar__title' }, 'Rooms'),
    h('nav', { 'aria-label': 'Rooms' }, roomList),
    roomForm,
  );

  const title = h('h2', { class: 'room__title' }, 'Pick or create a room');
  const inviteInput = h('input', { name: 'invite', autocomplete: 'off', autocapitalize: 'none', maxlength: '128' });
  const inviteForm = h(
    'form',
    { class: 'invite', hidden: true },
    field('Invite user', inviteInput, 'field field--inline'),
    h('button', { type: 'submit', class: 'btn' }, 'Invite'),
  );
  const older = h('button', { type: 'button', class: 'btn btn--quiet older', hidden: true }, 'Load older');
  const log = h('div', { role: 'log', 'aria-label': 'Conversation', class: 'log', tabindex: '0' });
  const feedback = h('p', { role: 'alert', class: 'feedback' });
  const replyText = h('span', { class: 'reply-bar__text' });
  const replyCancel = h('button', { type: 'button', class: 'btn btn--quiet' }, 'Cancel reply');
  const replyBar = h('div', { class: 'reply-bar', hidden: true }, replyText, replyCancel);
  const input = h('textarea', { name: 'message', rows: '2', maxlength: '4000', autocomplete: 'off', disabled: true });
  const sendBtn = h('button', { type: 'submit', class: 'btn btn--primary', disabled: true }, 'Send');
  const composer = h('form', { class: 'composer' }, replyBar, h('div', { class: 'composer__row' }, field('Message', input, 'field field--grow'), sendBtn));
  const main = h('main', { class: 'room' }, h('div', { class: 'room__head' }, title, inviteForm), older, log, feedback, composer);

  root.replaceChildren(h('div', { class: 'shell' }, header, banner, announcements, h('div', { class: 'layout' }, sidebar, main)));

  // ---- feedback ----
  let feedbackTimer: ReturnType<typeof setTimeout> | undefined;
  const say = (text: string, sticky = false): void => {
    feedback.textContent = text;
    if (feedbackTimer) clearTimeout(feedbackTimer);
    if (!sticky) feedbackTimer = setTimeout(() => (feedback.textContent = ''), 8000);
  };

  const explain = (error: unknown): string => {
    if (!(error instanceof BulwarkError)) return 'Something went wrong.';
    switch (error.code) {
      case 'RATE_LIMITED': {
        const s = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
        return `You are sending too fast. Try again in ${s} s.`;
      }
      case 'SPAM':
        return 'That message looks like spam, so it was not sent.';
      case 'OUTBOX_FULL':
        return 'Too many messages are waiting for the connection. Wait until it is back.';
      case 'FORBIDDEN':
        return error.message || 'You may not do that.';
      case 'CONFLICT':
        return 'A room with that name exists already.';
      case 'NOT_FOUND':
        return 'No such room or message.';
      case 'TIMEOUT':
      case 'DISCONNECTED':
        return 'The connection is down; try again when it is back.';
      case 'CLOSED':
        return 'Not connected.';
      case 'INVALID_PAYLOAD':
        return error.details?.map((d) => d.message).join(' ') || error.message;
      default:
        return error.message;
    }
  };

  // ---- rooms ----
  const view = (name: string): RoomView => {
    let v = rooms.get(name);
    if (!v) {
      v = { name, info: undefined, joined: false, list: h('ol', { class: 'messages' }), byId: new Map(), oldestSeq: undefined, hasOlder: false, loadingOlder: false, unread: 0 };
      rooms.set(name, v);
    }
    return v;
  };

  const renderRoomList = (): void => {
    const items = [...rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
    roomList.replaceChildren(
      ...items.map((v) => {
        const button = h(
          'button',
          { type: 'button', class: 'room-link', 'aria-current': v === current ? 'true' : undefined },
          v.info?.visibility === 'private' ? h('span', { class: 'room-link__lock', 'aria-hidden': 'true' }, '🔒') : null,
          v.name,
          v.unread > 0 ? h('span', { class: 'room-link__unread', 'aria-hidden': 'true' }, String(Math.min(v.unread, 99))) : null,
        );
        button.addEventListener('click', () => void openRoom(v.name));
        return h('li', {}, button);
      }),
    );
  };

  const refreshRooms = async (): Promise<void> => {
    try {
      const { rooms: list } = await client.request('room.list', {});
      for (const info of list) view(info.name).info = info;
      renderRoomList();
    } catch {
      /* shown by the banner when the connection is the problem */
    }
  };

  const mayModerate = (v: RoomView): boolean => isAdmin || v.info?.owner === user.id;

  const messageItem = (v: RoomView, message: Message): HTMLLIElement => {
    const li = h('li', { class: 'msg', 'data-id': message.id, 'data-seq': String(message.seq) });
    fillMessage(v, li, message);
    return li;
  };

  const fillMessage = (v: RoomView, li: HTMLLIElement, message: Message): void => {
    if ('deleted' in message) {
      li.className = 'msg msg--deleted';
      li.replaceChildren(h('p', { class: 'msg__body' }, 'Message deleted.'));
      return;
    }
    if ('unavailable' in message) {
      // The server could not decrypt it (docs/protocol.md, "The message object").
      li.className = 'msg msg--deleted';
      li.replaceChildren(h('p', { class: 'msg__body' }, `${message.user.name}: this message cannot be shown.`));
      return;
    }
    const mine = message.user.id === user.id;
    li.className = mine ? 'msg msg--mine' : 'msg';
    const body = h('div', { class: 'msg__body' });
    body.append(renderText(message.text));
    let quote: HTMLElement | null = null;
    if (message.replyTo) {
      const target = v.byId.get(message.replyTo)?.message;
      const excerpt = target && 'text' in target ? `${target.user.name}: ${plainText(target.text).slice(0, 80)}` : 'an earlier message';
      quote = h('p', { class: 'msg__quote' }, `↩ ${excerpt}`);
    }
    const reply = h('button', { type: 'button', class: 'link-btn' }, 'Reply');
    reply.addEventListener('click', () => {
      replyTo = { id: message.id, author: message.user.name, excerpt: plainText(message.text).slice(0, 60) };
      replyText.textContent = `Replying to ${replyTo.author}: ${replyTo.excerpt}`;
      replyBar.hidden = false;
      input.focus();
    });
    const actions = h('div', { class: 'msg__actions' }, reply);
    if (mine || mayModerate(v)) {
      const del = h('button', { type: 'button', class: 'link-btn link-btn--danger' }, 'Delete');
      del.addEventListener('click', () => {
        del.disabled = true;
        client.request('chat.delete', { room: v.name, message: message.id }).catch((error: unknown) => {
          del.disabled = false;
          say(explain(error));
        });
      });
      actions.append(del);
    }
    li.replaceChildren(
      h(
        'div',
        { class: 'msg__meta' },
        h('span', { class: 'msg__author' }, message.user.name),
        h('time', { class: 'msg__time', datetime: new Date(message.ts).toISOString() }, formatTime(message.ts)),
      ),
      ...(quote ? [quote] : []),
      body,
      actions,
    );
  };

  const nearBottom = (): boolean => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

  /** Adds messages in seq order, skipping ones already shown. */
  const add = (v: RoomView, messages: Message[]): void => {
    const stick = v === current && nearBottom();
    for (const message of messages) {
      const known = v.byId.get(message.id);
      if (known) {
        known.message = message;
        fillMessage(v, known.el, message);
        continue;
      }
      const el = messageItem(v, message);
      v.byId.set(message.id, { el, message });
      // Insert by seq: usually at the end.
      let after = v.list.lastElementChild as HTMLLIElement | null;
      while (after && after.dataset.seq !== undefined && Number(after.dataset.seq) > message.seq) after = after.previousElementSibling as HTMLLIElement | null;
      if (after) after.after(el);
      else v.list.prepend(el);
      if (v.oldestSeq === undefined || message.seq < v.oldestSeq) v.oldestSeq = message.seq;
    }
    if (stick) log.scrollTop = log.scrollHeight;
  };

  const loadOlder = async (): Promise<void> => {
    const v = current;
    if (!v || !v.hasOlder || v.loadingOlder || v.oldestSeq === undefined) return;
    v.loadingOlder = true;
    older.disabled = true;
    const before = log.scrollHeight - log.scrollTop;
    try {
      const page = await client.history(v.name, { before: v.oldestSeq, limit: PAGE });
      v.hasOlder = page.hasMore;
      add(v, page.messages);
      if (v === current) log.scrollTop = log.scrollHeight - before; // keep the reader's place
    } catch (error) {
      say(explain(error));
    } finally {
      v.loadingOlder = false;
      older.disabled = false;
      older.hidden = !(current?.hasOlder ?? false);
    }
  };

  const showRoom = (v: RoomView): void => {
    current = v;
    v.unread = 0;
    title.textContent = v.name;
    inviteForm.hidden = !(v.info?.visibility === 'private' && mayModerate(v));
    older.hidden = !v.hasOlder;
    log.replaceChildren(v.list);
    log.scrollTop = log.scrollHeight;
    input.disabled = false;
    sendBtn.disabled = false;
    clearReply();
    renderRoomList();
    sidebar.classList.remove('sidebar--open');
    roomsToggle.setAttribute('aria-expanded', 'false');
  };

  const openRoom = async (name: string): Promise<void> => {
    const v = view(name);
    if (!v.joined) {
      try {
        const ack = await client.join(name);
        v.joined = true;
        v.info = ack.room;
        v.hasOlder = ack.hasMore;
        add(v, ack.history);
      } catch (error) {
        if (!v.info && !v.joined) rooms.delete(name);
        renderRoomList();
        say(error instanceof BulwarkError && error.code === 'FORBIDDEN' ? 'That room is private. Ask its owner to invite you.' : explain(error));
        return;
      }
    }
    showRoom(v);
    input.focus();
  };

  const clearReply = (): void => {
    replyTo = undefined;
    replyBar.hidden = true;
    replyText.textContent = '';
  };

  // ---- sending ----
  const send = async (): Promise<void> => {
    const v = current;
    const text = input.value.trim();
    if (!v || !text) return;
    const muted = restrictions.blocked();
    if (muted) return say(muted);
    if (Date.now() < sendBlockedUntil) {
      say(`You are sending too fast. Try again in ${Math.ceil((sendBlockedUntil - Date.now()) / 1000)} s.`);
      return;
    }
    const id = newId();
    const reply = replyTo?.id;
    input.value = '';
    clearReply();
    const pending = h(
      'li',
      { class: 'msg msg--mine msg--pending', 'data-pending': id },
      h(
        'div',
        { class: 'msg__meta' },
        h('span', { class: 'msg__author' }, user.name),
        h('span', { class: 'msg__time' }, client.state === 'open' ? 'sending…' : 'waiting for connection…'),
      ),
      h('p', { class: 'msg__body' }, text),
    );
    v.list.append(pending);
    log.scrollTop = log.scrollHeight;
    try {
      await client.send(v.name, text, reply ? { id, replyTo: reply } : { id });
    } catch (error) {
      if (!input.value) input.value = text;
      if (error instanceof BulwarkError && error.code === 'RATE_LIMITED') sendBlockedUntil = Date.now() + (error.retryAfterMs ?? 1000);
      say(restrictions.explain(error) ?? explain(error));
    } finally {
      pending.remove();
    }
  };

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    void send();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void send();
    }
  });
  replyCancel.addEventListener('click', clearReply);

  // ---- room form, invites ----
  const roomFromForm = (): string | undefined => {
    const name = roomName.value.trim();
    if (!ROOM_NAME.test(name)) {
      say('Room names are 1–64 letters, digits, - or _.');
      return undefined;
    }
    return name;
  };
  roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = roomFromForm();
    if (!name) return;
    createBtn.disabled = true;
    client
      .request('room.create', { room: name, visibility: privateBox.checked ? 'private' : 'public' })
      .then(async (ack) => {
        view(name).info = ack.room;
        roomName.value = '';
        privateBox.checked = false;
        await openRoom(name);
      })
      .catch((error: unknown) => say(explain(error)))
      .finally(() => (createBtn.disabled = false));
  });
  joinBtn.addEventListener('click', () => {
    const name = roomFromForm();
    if (!name) return;
    roomName.value = '';
    void openRoom(name);
  });
  inviteForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const v = current;
    const who = inviteInput.value.trim();
    if (!v || !who) return;
    client
      .request('room.invite', { room: v.name, user: who })
      .then(() => {
        inviteInput.value = '';
        say(`Invited ${who} to ${v.name}.`);
      })
      .catch((error: unknown) => say(explain(error)));
  });

  older.addEventListener('click', () => void loadOlder());
  log.addEventListener('scroll', () => {
    if (log.scrollTop < 40) void loadOlder();
  });
  roomsToggle.addEventListener('click', () => {
    const open = sidebar.classList.toggle('sidebar--open');
    roomsToggle.setAttribute('aria-expanded', String(open));
  });
  logout.addEventListener('click', () => {
    client.close();
    void session.logout().then(() => signIn('You are logged out.'));
  });

  // ---- live events ----
  client.on('open', () => void refreshRooms());
  client.on('message', ({ room, message }) => {
    const v = view(room);
    add(v, [message as LiveMessage]);
    if (v !== current) {
      v.unread++;
      renderRoomList();
    }
  });
  client.on('unavailable', ({ room, message }) => add(view(room), [message]));
  client.on('deleted', ({ room, message }) => {
    const v = rooms.get(room);
    const known = v?.byId.get(message);
    if (v && known) {
      known.message = { id: message, seq: known.message.seq, room, deleted: true };
      fillMessage(v, known.el, known.message);
    }
  });
  const gone = (room: string, why: string): void => {
    const v = rooms.get(room);
    rooms.delete(room);
    if (v && v === current) {
      current = undefined;
      title.textContent = 'Pick or create a room';
      log.replaceChildren();
      input.disabled = sendBtn.disabled = true;
      inviteForm.hidden = older.hidden = true;
    }
    renderRoomList();
    say(`${room}: ${why}`);
  };
  client.on('room.deleted', ({ room }) => gone(room, 'the room was deleted.'));
  client.on('room.removed', ({ room }) => gone(room, 'you were removed from the room.'));
  client.on('announcement', ({ text, from, ts }) => {
    const body = h('div', { class: 'announcement__body' });
    body.append(renderText(text));
    const dismiss = h('button', { type: 'button', class: 'link-btn' }, 'Dismiss');
    const item = h('div', { class: 'announcement', role: 'alert' }, h('strong', {}, `Announcement from ${from} · ${formatTime(ts)}`), body, dismiss);
    dismiss.addEventListener('click', () => item.remove());
    announcements.append(item);
  });
  client.on('error', (error) => {
    if (error.code === 'RATE_LIMITED' || error.code === 'SPAM') say(restrictions.explain(error) ?? explain(error));
    else console.warn('bulwark:', error.code, error.message);
  });

  const poll = setInterval(() => {
    if (!document.body.contains(log)) return clearInterval(poll);
    if (client.state === 'open' && document.visibilityState === 'visible') void refreshRooms();
  }, 30_000);
}
