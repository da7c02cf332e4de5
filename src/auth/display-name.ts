/**
 * Display names (a token's `name` claim, an account's name) as other people will see them.
 * A name is shown next to every message, so it must not be able to reorder the text around it or
 * hide characters (Trojan Source, CVE-2021-42574; Unicode TR #36 "Unicode Security Considerations"):
 *
 * - NFC-normalised, so the same name is the same string whichever way it was typed;
 * - bidirectional controls (U+202A–U+202E embeddings and overrides, U+2066–U+2069 isolates,
 *   U+200E/U+200F/U+061C marks) removed, so `admin\u202Egnp.exe` cannot show as `adminexe.png`;
 * - zero-width and invisible characters (U+200B–U+200D, U+2060–U+2064, U+FEFF, U+180E, U+034F,
 *   U+115F/U+1160/U+3164/U+FFA0 fillers, variation selectors, tags) removed, so two names that look
 *   the same are the same;
 * - control characters removed, runs of white space collapsed to one space, trimmed;
 * - at most `MAX_DISPLAY_NAME` code points (cut on a code-point boundary, never inside a pair).
 */

export const MAX_DISPLAY_NAME = 64;

const INVISIBLE =
  // eslint-disable-next-line no-misleading-character-class
  /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8]|\udb40[\udc00-\udc7f]|\udb40[\udd00-\uddef]/g;
const SPACES = /[\s\u2028\u2029]+/g;

/** The displayable form of a name; empty when nothing visible is left. */
export function normalizeDisplayName(raw: string, max = MAX_DISPLAY_NAME): string {
  const cleaned = raw.normalize('NFC').replace(INVISIBLE, '').replace(SPACES, ' ').trim();
  const points = Array.from(cleaned);
  return points.length > max ? points.slice(0, max).join('').trimEnd() : cleaned;
}
