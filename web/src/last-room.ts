/**
 * The open room, remembered across reloads per user (localStorage holds only the room name), so
 * a reload or the next sign-in reopens it when it is still accessible. Storage that is full or
 * disabled (private windows, policies) just means nothing is remembered.
 */
const PREFIX = 'bulwark.openRoom:';

export interface LastRoom {
  get(): string | undefined;
  set(room: string): void;
  /** Forgets `room` when it is the remembered one (deleted, removed, no longer accessible). */
  forget(room: string): void;
}

export function lastRoom(userId: string): LastRoom {
  const key = PREFIX + userId;
  const read = (): string | undefined => {
    try {
      return localStorage.getItem(key) ?? undefined;
    } catch {
      return undefined;
    }
  };
  return {
    get: read,
    set(room) {
      try {
        localStorage.setItem(key, room);
      } catch {
        /* nothing remembered */
      }
    },
    forget(room) {
      if (read() !== room) return;
      try {
        localStorage.removeItem(key);
      } catch {
        /* nothing to forget */
      }
    },
  };
}
