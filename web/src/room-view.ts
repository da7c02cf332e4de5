/**
 * One room as the page holds it: its messages in `seq` order (one element per message id, never
 * two), the day separators between them, and how far back its history is loaded.
 */
import type { Room } from '../../client/index.js';
import { markDays } from './days.js';
import { h } from './dom.js';
import { fillMessage, messageItem, type MessageActions, type ShownMessage } from './message-item.js';

export interface RoomView {
  name: string;
  info: Room | undefined;
  joined: boolean;
  list: HTMLOListElement;
  byId: Map<string, { el: HTMLLIElement; message: ShownMessage }>;
  oldestSeq: number | undefined;
  hasOlder: boolean;
  loadingOlder: boolean;
  unread: number;
}

export function newRoomView(name: string, info?: Room): RoomView {
  return { name, info, joined: false, list: h('ol', { class: 'messages' }), byId: new Map(), oldestSeq: undefined, hasOlder: false, loadingOlder: false, unread: 0 };
}

/** Adds messages in seq order; a message already shown is redrawn with the newer copy. */
export function putMessages(v: RoomView, messages: readonly ShownMessage[], actions: MessageActions): void {
  let added = false;
  for (const message of messages) {
    if (replaceMessage(v, message, actions)) continue;
    const el = messageItem(message, actions);
    v.byId.set(message.id, { el, message });
    added = true;
    // Insert by seq: usually at the end. Separators and pending copies have no seq.
    let after = v.list.lastElementChild as HTMLElement | null;
    while (after && (after.dataset.seq === undefined || Number(after.dataset.seq) > message.seq)) after = after.previousElementSibling as HTMLElement | null;
    if (after) after.after(el);
    else v.list.prepend(el);
    if (v.oldestSeq === undefined || message.seq < v.oldestSeq) v.oldestSeq = message.seq;
  }
  if (added) markDays(v.list);
}

/** Redraws a shown message with a newer copy (an edit, a deletion); false when it is not shown. */
export function replaceMessage(v: RoomView, message: ShownMessage, actions: MessageActions): boolean {
  const known = v.byId.get(message.id);
  if (!known) return false;
  known.message = message;
  fillMessage(known.el, message, actions);
  return true;
}
