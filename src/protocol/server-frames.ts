/**
 * Schemas of the server's frames (docs/protocol.md "Server-initiated frames", "Frames"): what a
 * client may trust a server frame to look like. The SDK checks every inbound frame with them and
 * drops one that does not fit (client/client.ts); tests check the server's own output with them.
 *
 * Dependency-free on purpose: the SDK ships without a runtime dependency, so these are small
 * checking functions rather than zod schemas. Identifiers use the same patterns as the client
 * frames' schemas (./frames.ts). Fields a schema does not name are let through unchanged (a newer
 * server may add some); the fields it names must have their type and bounds.
 */
import { ERROR_CODES } from './errors.js';
import { ID_PATTERN, USER_ID_PATTERN } from './patterns.js';
import type { RequestFrameType, ServerFrame } from './frames.js';

/** A check returns the first problem it finds, as `path: what`, or undefined. */
export type Check = (value: unknown, path: string) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Record<string, unknown>, key: string): unknown => (Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined);

const string =
  (max: number, pattern?: RegExp): Check =>
  (v, path) => {
    if (typeof v !== 'string') return `${path}: must be a string`;
    if (v.length > max) return `${path}: longer than ${max}`;
    if (pattern && !pattern.test(v)) return `${path}: malformed`;
    return undefined;
  };
const integer =
  (min = 0, max = Number.MAX_SAFE_INTEGER): Check =>
  (v, path) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? undefined : `${path}: must be an integer in [${min}, ${max}]`;
const boolean: Check = (v, path) => (typeof v === 'boolean' ? undefined : `${path}: must be a boolean`);
const literal =
  (value: string | boolean): Check =>
  (v, path) =>
    v === value ? undefined : `${path}: must be ${JSON.stringify(value)}`;
const oneOf =
  (values: readonly string[]): Check =>
  (v, path) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${path}: not one of the known values`;
const array =
  (of: Check, max: number): Check =>
  (v, path) => {
    if (!Array.isArray(v)) return `${path}: must be an array`;
    if (v.length > max) return `${path}: more than ${max} items`;
    for (let i = 0; i < v.length; i++) {
      const problem = of(v[i], `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  };

/** An object with these required and optional fields (others let through). */
function object(required: Record<string, Check>, optional: Record<string, Check> = {}): Check {
  const req = Object.entries(required);
  const opt = Object.entries(optional);
  return (v, path) => {
    if (!isObject(v)) return `${path}: must be an object`;
    for (const [key, check] of req) {
      const problem = check(own(v, key), path ? `${path}.${key}` : key);
      if (problem) return problem;
    }
    for (const [key, check] of opt) {
      const field = own(v, key);
      if (field === undefined) continue;
      const problem = check(field, path ? `${path}.${key}` : key);
      if (problem) return problem;
    }
    return undefined;
  };
}

/** The first alternative whose discriminating field is present decides. */
const either =
  (pick: (v: Record<string, unknown>) => Check): Check =>
  (v, path) =>
    isObject(v) ? pick(v)(v, path) : `${path}: must be an object`;

/** Sanitized text may be longer than what was typed (`<` becomes `&lt;`, links gain `rel`). */
const TEXT_MAX = 65536 * 8;
const id = string(64, ID_PATTERN);
const room = string(64, ID_PATTERN);
const userId = string(128, USER_ID_PATTERN);
const ms = integer();
const seq = integer();
const name = string(256);

export const UserRefCheck = object({ id: userId, name });
export const RoomCheck = object({ name: room, owner: userId, visibility: oneOf(['public', 'private']), createdAt: ms });
export const LiveMessageCheck = object({ id, seq, room, user: UserRefCheck, text: string(TEXT_MAX), ts: ms }, { replyTo: id, editedAt: ms });
const DeletedMessageCheck = object({ id, seq, room, deleted: literal(true) });
const UnavailableMessageCheck = object({ id, seq, room, user: UserRefCheck, ts: ms, unavailable: literal(true) }, { replyTo: id, editedAt: ms });
export const MessageCheck = either((m) =>
  own(m, 'deleted') !== undefined ? DeletedMessageCheck : own(m, 'unavailable') !== undefined ? UnavailableMessageCheck : LiveMessageCheck,
);

/** Most items in one list (a history page holds 100, a presence list at most 1000). */
const MANY = 10_000;

/** Every server frame type and its check. */
export const SERVER_FRAMES: Readonly<Record<ServerFrame['type'], Check>> = {
  welcome: object(
    {
      type: literal('welcome'),
      user: object({ id: userId, name, roles: array(string(64), 64) }),
      connectionId: string(64),
      heartbeatMs: ms,
      limits: object({ maxPayloadBytes: integer(), maxMessageChars: integer() }),
    },
    { id },
  ),
  ack: object({ type: literal('ack'), id }),
  error: object(
    { type: literal('error'), code: oneOf(ERROR_CODES), message: string(1000) },
    { id, retryAfterMs: integer(), details: array(object({ path: string(256), message: string(1000) }), 100) },
  ),
  'chat.message': object({ type: literal('chat.message'), room, message: LiveMessageCheck }),
  'chat.deleted': object({ type: literal('chat.deleted'), room, message: id }),
  'chat.edited': object({ type: literal('chat.edited'), room, message: LiveMessageCheck }),
  'chat.typing': object({ type: literal('chat.typing'), room, user: UserRefCheck }),
  'presence.joined': object({ type: literal('presence.joined'), room, user: UserRefCheck }),
  'presence.left': object({ type: literal('presence.left'), room, user: UserRefCheck }),
  'room.deleted': object({ type: literal('room.deleted'), room }),
  'room.removed': object({ type: literal('room.removed'), room }),
  'room.resync': object({ type: literal('room.resync'), room, fromSeq: seq }),
  announcement: object({ type: literal('announcement'), text: string(TEXT_MAX), from: name, ts: ms }),
  'auth.refresh_required': object({ type: literal('auth.refresh_required'), expiresAt: ms }),
  'security.alert': object({ type: literal('security.alert'), event: object({ type: string(64), severity: string(16), ts: ms }, { ip: string(64), user: string(256) }) }),
  close: object({ type: literal('close'), code: integer(1000, 4999), reason: string(256) }),
};

/** What each request's `ack` carries, checked when the SDK knows which request it answers. */
export const ACK_BODIES: Readonly<Record<RequestFrameType, Check>> = {
  'auth.refresh': object({ expiresAt: ms }),
  'room.create': object({ room: RoomCheck }),
  'room.join': object({ room: RoomCheck, history: array(MessageCheck, MANY), hasMore: boolean }),
  'room.leave': object({ room }),
  'room.invite': object({ room, user: userId }),
  'room.kick': object({ room, user: userId }),
  'room.delete': object({ room }),
  'room.list': object({ rooms: array(RoomCheck, MANY) }, { next: room }),
  'chat.send': object({ message: object({ id, seq, ts: ms }) }, { duplicate: boolean }),
  'chat.history': object({ room, messages: array(MessageCheck, MANY), hasMore: boolean }),
  'chat.delete': object({ room, message: id }),
  'chat.edit': object({ room, message: object({ id, seq, editedAt: ms }) }, { duplicate: boolean }),
  presence: object({ room, members: array(UserRefCheck, MANY) }),
  'admin.broadcast': object({ ts: ms }),
};

export type ServerFrameProblem = 'not_object' | 'unknown_type' | 'schema';

export type ServerFrameCheck = { ok: true; frame: ServerFrame } | { ok: false; reason: ServerFrameProblem; type?: string; problem?: string };

/** Checks a parsed server frame against its type's schema. */
export function checkServerFrame(value: unknown): ServerFrameCheck {
  if (!isObject(value)) return { ok: false, reason: 'not_object' };
  const type = own(value, 'type');
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(SERVER_FRAMES, type)) {
    return typeof type === 'string' ? { ok: false, reason: 'unknown_type', type: type.slice(0, 64) } : { ok: false, reason: 'unknown_type' };
  }
  const problem = SERVER_FRAMES[type as ServerFrame['type']](value, '');
  if (problem) return { ok: false, reason: 'schema', type, problem };
  return { ok: true, frame: value as unknown as ServerFrame };
}

/** Checks an `ack`'s body against the request it answers; the problem, or undefined. */
export function checkAckBody(request: RequestFrameType, ack: Record<string, unknown>): string | undefined {
  return ACK_BODIES[request](ack, '');
}
