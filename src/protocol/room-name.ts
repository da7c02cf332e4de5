/**
 * The room-name rule (docs/protocol.md section 4), shared by the server's frame schemas and the
 * web app, which shows it while people type instead of after a refusal. It imports only the
 * dependency-free patterns module, so the page bundles it as it is.
 */
import { ID_PATTERN } from './patterns.js';

/** Most characters in a room name. */
export const ROOM_NAME_MAX = 64;
/** Room names share the frame-id alphabet so they are safe in logs, URLs and channel names. */
export const ROOM_NAME_PATTERN = ID_PATTERN;
/** One character that may appear in a room name. */
export const ROOM_NAME_CHAR = /[A-Za-z0-9_-]/;
/** The schema's message when a name breaks the rule. */
export const ROOM_NAME_RULE = 'must be 1-64 characters of A-Z a-z 0-9 _ -';
