/**
 * Who is online in the open room (docs/protocol.md `presence`): the members the server listed
 * when the room opened, kept current by `presence.joined` / `presence.left`. One set per room,
 * shown for the open one.
 */
import { h } from './dom.js';

export interface OnlineUser {
  id: string;
  name: string;
}

export interface OnlineList {
  element: HTMLElement;
  /** Replaces a room's members (the `presence` ack). */
  reset(room: string, members: readonly OnlineUser[]): void;
  joined(room: string, user: OnlineUser): void;
  left(room: string, user: OnlineUser): void;
  /** Shows `room`'s members (or hides the list when undefined or not known yet). */
  show(room: string | undefined): void;
  /** Forgets a room (left, deleted, removed). */
  drop(room: string): void;
}

export function onlineList(): OnlineList {
  const rooms = new Map<string, Map<string, string>>();
  const heading = h('h3', { class: 'online__title', id: 'online-title' });
  const list = h('ul', { class: 'online__list', 'aria-labelledby': 'online-title' });
  const element = h('section', { class: 'online', hidden: true }, heading, list);
  let shown: string | undefined;

  const render = (): void => {
    const members = shown === undefined ? undefined : rooms.get(shown);
    element.hidden = members === undefined;
    if (!members) return list.replaceChildren();
    heading.textContent = `Online · ${members.size}`;
    const sorted = [...members.entries()].sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
    list.replaceChildren(...sorted.map(([id, name]) => h('li', { class: 'online__user', 'data-user': id }, name)));
  };
  const changed = (room: string): void => {
    if (room === shown) render();
  };

  return {
    element,
    reset(room, members) {
      rooms.set(room, new Map(members.map((m) => [m.id, m.name])));
      changed(room);
    },
    joined(room, user) {
      const members = rooms.get(room);
      if (!members) return; // not asked yet: the next `presence` answer has it
      members.set(user.id, user.name);
      changed(room);
    },
    left(room, user) {
      if (rooms.get(room)?.delete(user.id)) changed(room);
    },
    show(room) {
      shown = room;
      render();
    },
    drop(room) {
      rooms.delete(room);
      changed(room);
    },
  };
}
