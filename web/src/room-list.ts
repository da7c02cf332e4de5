/** The sidebar's room list: private rooms marked, the open one current, unread counts. */
import type { Room } from '../../client/index.js';
import { h } from './dom.js';

export interface ListedRoom {
  name: string;
  info: Room | undefined;
  unread: number;
}

export function renderRoomList(list: HTMLElement, rooms: Iterable<ListedRoom>, current: ListedRoom | undefined, open: (name: string) => void): void {
  const items = [...rooms].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(
    ...items.map((v) => {
      const button = h(
        'button',
        { type: 'button', class: 'room-link', 'aria-current': v === current ? 'true' : undefined },
        v.info?.visibility === 'private' ? h('span', { class: 'room-link__lock', 'aria-hidden': 'true' }, '🔒') : null,
        v.name,
        v.unread > 0 ? h('span', { class: 'room-link__unread', 'aria-hidden': 'true' }, String(Math.min(v.unread, 99))) : null,
      );
      button.addEventListener('click', () => open(v.name));
      return h('li', {}, button);
    }),
  );
}
