/**
 * The chat's behaviour: rooms, history, replies, edits, deletes, who is online, who is typing,
 * announcements — over the SDK, which reconnects, resumes and keeps unsent messages in its
 * outbox. Every piece of text from the network reaches the page as text nodes or through
 * DOMPurify (`render.ts`); the page structure is `chat-layout.ts`.
 */
import { BulwarkError, CLOSE, newId, type BulwarkClient } from '../../client/index.js';
import { showAnnouncement } from './announcements.js';
import { connectionBanner } from './banner.js';
import { confirmDialog } from './confirm-dialog.js';
import { markDays } from './days.js';
import { chatLayout } from './chat-layout.js';
import { h } from './dom.js';
import { explain, noticeMs } from './explain.js';
import { lastRoom } from './last-room.js';
import { NOTICE_MS } from './notice.js';
import type { MessageActions, ReplyTarget, ShownMessage } from './message-item.js';
import { newRoomView, putMessages, replaceMessage, type RoomView } from './room-view.js';
import { watchRestrictions } from './restriction.js';
import { renderRoomList } from './room-list.js';
import type { Session, SessionUser } from './session.js';

const PAGE = 50;

/** Builds the chat for a signed-in user; `signOut` shows the sign-in screen with a notice. */
export function chat(root: HTMLElement, session: Session, user: SessionUser, signOut: (notice: string) => void): void {
  const client: BulwarkClient = session.connect();
  const restrictions = watchRestrictions(client);
  const remembered = lastRoom(user.id);
  const rooms = new Map<string, RoomView>();
  const isAdmin = user.roles.includes('admin');
  let current: RoomView | undefined;
  let replyTo: ReplyTarget | undefined;
  let sendBlockedUntil = 0;

  // ---- layout ----
  const banner = connectionBanner(client, (code) => {
    if (code === CLOSE.UNAUTHENTICATED || code === CLOSE.FORBIDDEN) {
      client.close();
      signOut('Your session ended. Please log in again.');
    }
  });
  const layout = chatLayout(user, banner);
  const {
    logout,
    roomsToggle,
    announcements,
    roomList,
    roomName,
    privateBox,
    createBtn,
    joinBtn,
    roomForm,
    sidebar,
    title,
    online,
    typists,
    leaveBtn,
    inviteInput,
    inviteForm,
    older,
    log,
    feedback,
    replyText,
    replyCancel,
    replyBar,
    input,
    sendBtn,
    composer,
  } = layout;
  const shell = layout.shell;
  root.replaceChildren(shell);
  const ask = confirmDialog(shell);

  // ---- feedback ----
  const fail = (error: unknown): void => feedback.show(restrictions.explain(error) ?? explain(error), { ms: noticeMs(error, NOTICE_MS) });
  const say = (text: string): void => feedback.show(text, { kind: 'info' });

  // ---- rooms ----
  const view = (name: string): RoomView => {
    let v = rooms.get(name);
    if (!v) rooms.set(name, (v = newRoomView(name)));
    return v;
  };

  const listRooms = (): void => renderRoomList(roomList, rooms.values(), current, (name) => void openRoom(name));

  const refreshRooms = async (): Promise<void> => {
    try {
      const { rooms: list } = await client.request('room.list', {});
      for (const info of list) view(info.name).info = info;
      listRooms();
    } catch {
      /* shown by the banner when the connection is the problem */
    }
  };

  const mayModerate = (v: RoomView): boolean => isAdmin || v.info?.owner === user.id;

  const actionsFor = (v: RoomView): MessageActions => ({
    me: user.id,
    mayModerate: () => mayModerate(v),
    lookup: (id) => v.byId.get(id)?.message,
    reply: (target) => {
      replyTo = target;
      replyText.textContent = `Replying to ${target.author}: ${target.excerpt}`;
      replyBar.hidden = false;
      input.focus();
    },
    remove: async (message) => {
      const yes = await ask({ title: 'Delete this message?', text: 'It is removed for everyone in the room. This cannot be undone.', confirm: 'Delete', danger: true });
      if (!yes) return;
      try {
        await client.request('chat.delete', { room: v.name, message: message.id });
      } catch (error) {
        fail(error);
      }
    },
    edit: async (message, text) => {
      await client.edit(v.name, message.id, text);
    },
    fail,
  });

  const nearBottom = (): boolean => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

  /** Adds (or updates) messages, keeping the reader at the bottom when they were there. */
  const add = (v: RoomView, messages: ShownMessage[]): void => {
    const stick = v === current && nearBottom();
    putMessages(v, messages, actionsFor(v));
    if (stick) log.scrollTop = log.scrollHeight;
  };

  const loadPresence = async (room: string): Promise<void> => {
    try {
      online.reset(room, await client.presence(room));
    } catch {
      /* the list stays as it was; the next (re)connect asks again */
    }
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
      fail(error);
    } finally {
      v.loadingOlder = false;
      older.disabled = false;
      older.hidden = !(current?.hasOlder ?? false);
    }
  };

  const showRoom = (v: RoomView): void => {
    current = v;
    v.unread = 0;
    remembered.set(v.name);
    feedback.clear();
    title.textContent = v.name;
    online.show(v.name);
    void loadPresence(v.name); // fresh on every visit: events only keep it current while joined
    typists.show(v.name);
    leaveBtn.hidden = false;
    inviteForm.hidden = !(v.info?.visibility === 'private' && mayModerate(v));
    older.hidden = !v.hasOlder;
    markDays(v.list); // "Today" may have become "Yesterday" since
    log.replaceChildren(v.list);
    log.scrollTop = log.scrollHeight;
    input.disabled = false;
    sendBtn.disabled = false;
    clearReply();
    listRooms();
    sidebar.classList.remove('sidebar--open');
    roomsToggle.setAttribute('aria-expanded', 'false');
  };

  /** Joins (once) and shows a room; `quiet` (restoring the remembered room) forgets it on refusal instead of complaining. */
  const openRoom = async (name: string, quiet = false): Promise<void> => {
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
        listRooms();
        if (quiet) {
          if (error instanceof BulwarkError && ['FORBIDDEN', 'NOT_FOUND', 'NOT_A_MEMBER', 'INVALID_PAYLOAD'].includes(error.code)) remembered.forget(name);
          return;
        }
        if (error instanceof BulwarkError && error.code === 'FORBIDDEN') feedback.show('That room is private. Ask its owner to invite you.');
        else fail(error);
        return;
      }
    }
    if (quiet && current) return; // the person opened another room meanwhile
    showRoom(v);
    input.focus();
  };

  /** Forgets a room's messages, members and typists; empties the view when it was open. */
  const closeRoom = (room: string): void => {
    const v = rooms.get(room);
    remembered.forget(room);
    online.drop(room);
    typists.drop(room);
    // Keep it listed (public rooms stay joinable), but start afresh when it is opened again.
    if (v) rooms.set(room, newRoomView(room, v.info));
    if (v && v === current) {
      current = undefined;
      title.textContent = 'Pick or create a room';
      log.replaceChildren();
      online.show(undefined);
      typists.show(undefined);
      input.disabled = sendBtn.disabled = true;
      inviteForm.hidden = older.hidden = leaveBtn.hidden = true;
    }
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
    if (muted) return feedback.show(muted);
    if (Date.now() < sendBlockedUntil) {
      const ms = sendBlockedUntil - Date.now();
      feedback.show(`You are sending too fast. Try again in ${Math.ceil(ms / 1000)} s.`, { ms: Math.max(ms, NOTICE_MS) });
      return;
    }
    const id = newId();
    const reply = replyTo?.id;
    input.value = '';
    clearReply();
    const pending = h(
      'li',
      { class: 'msg msg--mine msg--pending', 'data-pending': id, 'data-ts': String(Date.now()) },
      h(
        'div',
        { class: 'msg__meta' },
        h('span', { class: 'msg__author' }, user.name),
        h('span', { class: 'msg__time' }, client.state === 'open' ? 'sending…' : 'waiting for connection…'),
      ),
      h('p', { class: 'msg__body' }, text),
    );
    v.list.append(pending);
    markDays(v.list);
    log.scrollTop = log.scrollHeight;
    try {
      await client.send(v.name, text, reply ? { id, replyTo: reply } : { id });
    } catch (error) {
      if (!input.value) input.value = text;
      if (error instanceof BulwarkError && error.code === 'RATE_LIMITED') sendBlockedUntil = Date.now() + (error.retryAfterMs ?? 1000);
      fail(error);
    } finally {
      pending.remove();
      markDays(v.list);
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
  // Typing signals: the SDK sends at most one per room per window, none while disconnected.
  input.addEventListener('input', () => {
    if (current && input.value.trim() !== '') client.typing(current.name);
  });

  // ---- room form, invites ----
  roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = roomName.take();
    if (!name) return;
    createBtn.disabled = true;
    client
      .request('room.create', { room: name, visibility: privateBox.checked ? 'private' : 'public' })
      .then(async (ack) => {
        view(name).info = ack.room;
        roomName.clear();
        privateBox.checked = false;
        await openRoom(name);
      })
      .catch(fail)
      .finally(() => (createBtn.disabled = false));
  });
  joinBtn.addEventListener('click', () => {
    const name = roomName.take();
    if (!name) return;
    roomName.clear();
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
      .catch(fail);
  });

  leaveBtn.addEventListener('click', () => {
    const v = current;
    if (!v) return;
    leaveBtn.disabled = true;
    client
      .leave(v.name)
      .then(() => {
        closeRoom(v.name);
        listRooms();
      })
      .catch(fail)
      .finally(() => (leaveBtn.disabled = false));
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
    void session.logout().then(() => signOut('You are logged out.'));
  });

  // ---- live events ----
  client.on('open', () => {
    void refreshRooms();
    // Who came and went while the connection was down.
    if (current?.joined) void loadPresence(current.name);
  });
  client.on('message', ({ room, message }) => {
    const v = view(room);
    typists.stopped(room, message.user.id);
    add(v, [message]);
    if (v !== current) {
      v.unread++;
      listRooms();
    }
  });
  client.on('unavailable', ({ room, message }) => add(view(room), [message]));
  client.on('edited', ({ room, message }) => {
    // One not loaded yet is left for its history page, which carries the new text.
    const v = rooms.get(room);
    if (v) replaceMessage(v, message, actionsFor(v));
  });
  client.on('typing', ({ room, user: who }) => {
    if (who.id !== user.id) typists.typing(room, who);
  });
  client.on('presence.joined', ({ room, user: who }) => online.joined(room, who));
  client.on('presence.left', ({ room, user: who }) => {
    online.left(room, who);
    typists.stopped(room, who.id);
  });
  client.on('deleted', ({ room, message }) => {
    const v = rooms.get(room);
    const known = v?.byId.get(message);
    if (v && known) replaceMessage(v, { id: message, seq: known.message.seq, room, deleted: true }, actionsFor(v));
  });
  const gone = (room: string, why: string): void => {
    closeRoom(room);
    rooms.delete(room);
    listRooms();
    feedback.show(`${room}: ${why}`);
  };
  client.on('room.deleted', ({ room }) => gone(room, 'the room was deleted.'));
  client.on('room.removed', ({ room }) => gone(room, 'you were removed from the room.'));
  client.on('announcement', (a) => showAnnouncement(announcements, a));
  client.on('error', (error) => {
    if (error.code === 'RATE_LIMITED' || error.code === 'SPAM') fail(error);
    else console.warn('bulwark:', error.code, error.message);
  });

  // The room open before the reload (or the last sign-in), when it is still accessible.
  const last = remembered.get();
  if (last) void openRoom(last, true);

  const poll = setInterval(() => {
    if (!document.body.contains(log)) return clearInterval(poll);
    if (client.state === 'open' && document.visibilityState === 'visible') void refreshRooms();
    if (current) markDays(current.list);
  }, 30_000);
}
