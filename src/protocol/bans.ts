/**
 * The wording of a ban (docs/protocol.md "Abuse scoring and bans"), shared by server and client:
 * a close reason `banned until <ISO time>`, so a client can tell its user until when instead of
 * retrying.
 */

export function bannedReason(until: number): string {
  return `banned until ${new Date(until).toISOString()}`;
}

const BANNED = /^banned until (\S+)$/;

/** The end of a ban (ms since the epoch) named in a close reason, if the reason is one. */
export function banFromReason(reason: string): number | undefined {
  const m = BANNED.exec(reason);
  if (!m) return undefined;
  const until = Date.parse(m[1]!);
  return Number.isNaN(until) ? undefined : until;
}
