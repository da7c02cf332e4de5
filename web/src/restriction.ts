/**
 * Bans and mutes, told to the person (docs/protocol.md "Abuse scoring and bans"): the SDK reports
 * `banned {until}` and `muted {until}`; the page says "You are banned until …" instead of
 * "Reconnecting…", and "Muted for N s" instead of sending into a wall.
 */
import type { BulwarkClient } from '../../client/index.js';
import { BulwarkError } from '../../client/index.js';

export function banNotice(until: number): string {
  const when = new Date(until);
  const sameDay = when.toDateString() === new Date().toDateString();
  const text = sameDay ? when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : when.toLocaleString();
  return `You are banned until ${text}.`;
}

export function muteNotice(until: number): string {
  return `Muted for ${Math.max(1, Math.ceil((until - Date.now()) / 1000))} s.`;
}

/** What the composer should say instead of sending, while the user is muted. */
export interface Restrictions {
  /** "Muted for N s." while muted, else undefined. */
  blocked(): string | undefined;
  /** The notice for a refused send, when it was a mute. */
  explain(error: unknown): string | undefined;
}

export function watchRestrictions(client: BulwarkClient): Restrictions {
  let mutedUntil = 0;
  client.on('muted', ({ until }) => (mutedUntil = Math.max(mutedUntil, until)));
  return {
    blocked: () => (Date.now() < mutedUntil ? muteNotice(mutedUntil) : undefined),
    explain: (error) => (error instanceof BulwarkError && error.code === 'SPAM' && error.retryAfterMs !== undefined ? muteNotice(Date.now() + error.retryAfterMs) : undefined),
  };
}
