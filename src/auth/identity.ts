/**
 * Who a user id belongs to. Built-in accounts and token subjects live in separate namespaces so
 * that one can never become the other (docs/protocol.md "Identities"):
 *
 * - a built-in account's id is `acct:<username>`; the username stays the display handle. Usernames
 *   cannot contain `:`, and are never released (accounts are disabled, not deleted), so an id
 *   names one account for ever;
 * - a token subject is used as it is (`bulwark token --sub opsbot` is `opsbot`), or, for an issuer
 *   configured with a `subjectPrefix`, as `<prefix><sub>`;
 * - a subject that starts with a reserved prefix (`acct:`, `apikey:` — the server API's keys — or any configured issuer prefix) is
 *   refused unless it comes from the issuer that owns that namespace. Registering the username
 *   `opsbot` therefore yields `acct:opsbot`, never `opsbot`, and no outside issuer can mint
 *   `acct:opsbot`.
 */

export const ACCOUNT_PREFIX = 'acct:';
/** The server API's keys act as `apikey:<id>` (their rate, replay and spam state, their events): no token may carry it. */
export const API_KEY_SUBJECT_PREFIX = 'apikey:';

/** An issuer's subject prefix: a short lower-case label and one colon at the end. */
export const SUBJECT_PREFIX = /^[a-z0-9][a-z0-9_.-]{0,31}:$/;

/** A namespace label at the start of a subject: what a prefix would look like. */
const LEADING_LABEL = /^([a-z0-9][a-z0-9_.-]{0,31}:)/i;

export function accountId(username: string): string {
  return `${ACCOUNT_PREFIX}${username}`;
}

export function isAccountId(id: string): boolean {
  return id.startsWith(ACCOUNT_PREFIX);
}

/** The username of an account id, or undefined for any other id. */
export function usernameOf(id: string): string | undefined {
  return isAccountId(id) ? id.slice(ACCOUNT_PREFIX.length) : undefined;
}

/**
 * The namespace label a subject starts with, lower-cased (`acct:` for `ACCT:bob`), if it has one.
 * Compared case-insensitively so `ACCT:bob` cannot pass for something else in a case-folding UI.
 */
export function leadingLabel(sub: string): string | undefined {
  const m = LEADING_LABEL.exec(sub);
  return m ? m[1]!.toLowerCase() : undefined;
}
