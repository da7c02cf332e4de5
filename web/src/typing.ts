/**
 * Who is typing (docs/protocol.md `chat.typing`): "alice is typing…" for the open room, each
 * typist dropped after `EXPIRE_MS` without another signal, or at once when their message arrives
 * or they leave. (Sending is the SDK's `typing(room)`, throttled there.)
 */
import { h } from './dom.js';

/**
 * How long one signal keeps a typist shown. The SDK sends at most one signal per room every
 * `typingIntervalMs` (2 s) while someone types, and the server forwards at most one per
 * `presence.typingIntervalMs` (2 s, remembered up to 2.5 s), so a steady typist is heard at least
 * every ~4.5 s; a little more than that and they are gone.
 */
export const EXPIRE_MS = 6000;

export function typingLine(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
}

export interface TypingIndicator {
  element: HTMLElement;
  typing(room: string, user: { id: string; name: string }): void;
  /** The user stopped (their message arrived, they left). */
  stopped(room: string, userId: string): void;
  show(room: string | undefined): void;
  drop(room: string): void;
}

export function typingIndicator(expireMs = EXPIRE_MS): TypingIndicator {
  const rooms = new Map<string, Map<string, { name: string; timer: ReturnType<typeof setTimeout> }>>();
  const element = h('p', { class: 'typing', 'aria-live': 'polite' });
  let shown: string | undefined;

  const render = (): void => {
    const typists = shown === undefined ? undefined : rooms.get(shown);
    element.textContent = typists ? typingLine([...typists.values()].map((t) => t.name)) : '';
  };
  const stopped = (room: string, userId: string): void => {
    const typists = rooms.get(room);
    const typist = typists?.get(userId);
    if (!typists || !typist) return;
    clearTimeout(typist.timer);
    typists.delete(userId);
    if (typists.size === 0) rooms.delete(room);
    if (room === shown) render();
  };

  return {
    element,
    typing(room, user) {
      let typists = rooms.get(room);
      if (!typists) rooms.set(room, (typists = new Map()));
      const known = typists.get(user.id);
      if (known) clearTimeout(known.timer);
      typists.set(user.id, { name: user.name, timer: setTimeout(() => stopped(room, user.id), expireMs) });
      if (room === shown) render();
    },
    stopped,
    show(room) {
      shown = room;
      render();
    },
    drop(room) {
      for (const id of [...(rooms.get(room)?.keys() ?? [])]) stopped(room, id);
    },
  };
}
