/**
 * The server API's routes as data (docs/protocol.md "Server API"): method, path, scope and the JSON
 * schemas of every part of the request and of every answer. The same table registers the Fastify
 * routes (their request schemas validate strictly: an unknown field is a 400) and generates the
 * OpenAPI document (src/api/openapi.ts), so the two cannot drift.
 */
import { ERROR_CODES } from '../protocol/errors.js';
import { TEXT_HARD_MAX } from '../protocol/frames.js';
import { MAX_DISPLAY_NAME } from '../auth/display-name.js';
import type { ApiScope } from './keys.js';

export type JsonSchema = Readonly<Record<string, unknown>>;

export type ApiOperation = 'publish' | 'broadcast' | 'history' | 'presence' | 'disconnect';

export interface ApiResponseSpec {
  description: string;
  schema: JsonSchema;
}

export interface ApiRouteSpec {
  operation: ApiOperation;
  method: 'GET' | 'POST';
  /** OpenAPI form: `/api/v1/rooms/{room}/messages`. */
  path: string;
  scope: ApiScope;
  summary: string;
  description: string;
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema;
  /** A request without a body is taken as `{}`. */
  bodyOptional?: boolean;
  /** Accepts an `Idempotency-Key` header. */
  idempotent?: boolean;
  /** The success answers, by status. */
  responses: Readonly<Record<number, ApiResponseSpec>>;
}

export const API_PREFIX = '/api/v1';
/** Where the OpenAPI document is served (no key needed: it describes the public contract only). */
export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;

/** `Idempotency-Key`: the `chat.send` id alphabet. */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/** The application close codes a backend may choose for `disconnect`, besides 1000. */
export const DISCONNECT_CODES = { min: 4000, max: 4999 } as const;
/** What a connection is closed with when the backend names no code (as the admin console's kick). */
export const DEFAULT_DISCONNECT = { code: 4403, reason: 'disconnected by the service' } as const;

const RoomName = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'A room name: 1-64 characters of A-Z a-z 0-9 _ -.' } as const;
const UserId = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'A user id (a token `sub`, or `acct:<username>`).' } as const;
const Seq = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

const UserRef = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name'],
  properties: { id: UserId, name: { type: 'string', minLength: 1, maxLength: MAX_DISPLAY_NAME } },
} as const;

/** A message as `chat.message` carries it (docs/protocol.md "Frames"); later fields (e.g. `editedAt`) may appear. */
export const MESSAGE_SCHEMA = {
  type: 'object',
  required: ['id', 'seq', 'room'],
  properties: {
    id: { type: 'string' },
    seq: Seq,
    room: { type: 'string' },
    user: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } },
    text: { type: 'string', description: 'Sanitized text (docs/protocol.md "Message text").' },
    ts: { type: 'integer' },
    replyTo: { type: 'string' },
    editedAt: { type: 'integer' },
    deleted: { type: 'boolean', const: true },
    unavailable: { type: 'boolean', const: true },
  },
} as const;

export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', enum: ERROR_CODES },
    message: { type: 'string' },
    details: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
    retryAfterMs: { type: 'integer', minimum: 0 },
  },
} as const;

const roomParams = { type: 'object', additionalProperties: false, required: ['room'], properties: { room: RoomName } } as const;

export const API_ROUTES: readonly ApiRouteSpec[] = [
  {
    operation: 'publish',
    method: 'POST',
    path: `${API_PREFIX}/rooms/{room}/messages`,
    scope: 'publish',
    summary: 'Post a message into a room',
    description:
      'Stored and delivered exactly as `chat.send`: sanitized, spam-checked, given the next `seq`, durably stored, then delivered as `chat.message` to every connection joined to the room on every node. Without `user` the author is the system identity `{id: "system", name: "System"}`. With an `Idempotency-Key` header, the same key again within `replay.windowMs` answers `200` with the first message and `duplicate: true`, storing nothing.',
    params: roomParams,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['text'],
      properties: { text: { type: 'string', minLength: 1, maxLength: TEXT_HARD_MAX }, user: UserRef },
    },
    idempotent: true,
    responses: {
      201: {
        description: 'Stored and delivered.',
        schema: { type: 'object', required: ['message'], properties: { message: MESSAGE_SCHEMA } },
      },
      200: {
        description: 'A repeated `Idempotency-Key`: the first message, nothing stored again.',
        schema: { type: 'object', required: ['message', 'duplicate'], properties: { message: MESSAGE_SCHEMA, duplicate: { type: 'boolean', const: true } } },
      },
    },
  },
  {
    operation: 'broadcast',
    method: 'POST',
    path: `${API_PREFIX}/broadcast`,
    scope: 'broadcast',
    summary: 'Announce to every connection',
    description: 'An `announcement {text, from: "System", ts}` to every connection on every node, with the text rules of `admin.broadcast`.',
    body: { type: 'object', additionalProperties: false, required: ['text'], properties: { text: { type: 'string', minLength: 1, maxLength: TEXT_HARD_MAX } } },
    responses: { 202: { description: 'Published to every node.', schema: { type: 'object', required: ['ts'], properties: { ts: { type: 'integer' } } } } },
  },
  {
    operation: 'history',
    method: 'GET',
    path: `${API_PREFIX}/rooms/{room}/history`,
    scope: 'history',
    summary: "A page of a room's history",
    description: 'As `chat.history`: messages in ascending `seq`, at most `limit` (default and maximum 100), before or after a `seq`; `hasMore` when more exist.',
    params: roomParams,
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { before: Seq, after: Seq, limit: { type: 'integer', minimum: 1, maximum: 100 } },
    },
    responses: {
      200: {
        description: 'One page.',
        schema: {
          type: 'object',
          required: ['room', 'messages', 'hasMore'],
          properties: { room: { type: 'string' }, messages: { type: 'array', items: MESSAGE_SCHEMA }, hasMore: { type: 'boolean' } },
        },
      },
    },
  },
  {
    operation: 'presence',
    method: 'GET',
    path: `${API_PREFIX}/rooms/{room}/presence`,
    scope: 'presence',
    summary: 'Who is online in a room',
    description: 'As the `presence` frame: the users with a live connection joined to the room, across all nodes.',
    params: roomParams,
    responses: {
      200: {
        description: 'The members online.',
        schema: {
          type: 'object',
          required: ['room', 'members'],
          properties: {
            room: { type: 'string' },
            members: { type: 'array', items: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } } },
          },
        },
      },
    },
  },
  {
    operation: 'disconnect',
    method: 'POST',
    path: `${API_PREFIX}/users/{id}/disconnect`,
    scope: 'admin',
    summary: 'Close every connection of a user, on every node',
    description: `Each connection is closed with \`code\` (1000 or ${DISCONNECT_CODES.min}-${DISCONNECT_CODES.max}; default ${DEFAULT_DISCONNECT.code}) and \`reason\` (default "${DEFAULT_DISCONNECT.reason}"). It does not stop the user from connecting again: ban them for that.`,
    params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: UserId } },
    body: {
      type: 'object',
      additionalProperties: false,
      properties: {
        code: { type: 'integer', anyOf: [{ const: 1000 }, { minimum: DISCONNECT_CODES.min, maximum: DISCONNECT_CODES.max }] },
        reason: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[\\x20-\\x7e]+$', description: 'Printable ASCII, at most 100 characters.' },
      },
    },
    bodyOptional: true,
    responses: {
      202: {
        description: 'Sent to every node.',
        schema: { type: 'object', required: ['user', 'code', 'reason'], properties: { user: { type: 'string' }, code: { type: 'integer' }, reason: { type: 'string' } } },
      },
    },
  },
];

/** `/api/v1/rooms/{room}/messages` → `/api/v1/rooms/:room/messages` (Fastify's form). */
export function fastifyPath(path: string): string {
  return path.replace(/\{([A-Za-z]+)\}/g, ':$1');
}
