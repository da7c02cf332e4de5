/**
 * Client frame schemas of contract v1 (section 4): one strict schema per frame type, the single
 * source of truth for the server's validation and the client SDK's types. No Node imports here.
 */
import { z } from 'zod';
import { ID_PATTERN, USER_ID_PATTERN } from './patterns.js';
import { ROOM_NAME_PATTERN, ROOM_NAME_RULE } from './room-name.js';

/** `id` is 1–64 chars of `[A-Za-z0-9_-]` (contract section 4). */
export const FrameId = z.string().regex(ID_PATTERN, 'must be 1-64 characters of A-Z a-z 0-9 _ -');
/** Room names share the id alphabet so they are safe in logs, URLs and channel names (`room-name.ts`). */
export const RoomName = z.string().regex(ROOM_NAME_PATTERN, ROOM_NAME_RULE);
/** A user id is a JWT `sub`: printable, bounded. */
export const UserId = z.string().min(1).max(128).regex(USER_ID_PATTERN, 'must be printable');
export const MessageId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be a message id');
const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Token = z.string().min(1).max(8192);
/** Hard ceiling for text; the configured `limits.maxMessageChars` applies after trimming. */
export const TEXT_HARD_MAX = 65536;
const Text = z.string().max(TEXT_HARD_MAX);

export const AuthFrame = z.strictObject({ type: z.literal('auth'), id: FrameId.optional(), token: Token });
export const AuthRefreshFrame = z.strictObject({ type: z.literal('auth.refresh'), id: FrameId, token: Token });
export const RoomCreateFrame = z.strictObject({
  type: z.literal('room.create'),
  id: FrameId,
  room: RoomName,
  visibility: z.enum(['public', 'private']),
});
export const RoomJoinFrame = z.strictObject({ type: z.literal('room.join'), id: FrameId, room: RoomName, since: Seq.optional() });
export const RoomLeaveFrame = z.strictObject({ type: z.literal('room.leave'), id: FrameId, room: RoomName });
export const RoomInviteFrame = z.strictObject({ type: z.literal('room.invite'), id: FrameId, room: RoomName, user: UserId });
export const RoomKickFrame = z.strictObject({ type: z.literal('room.kick'), id: FrameId, room: RoomName, user: UserId });
export const RoomDeleteFrame = z.strictObject({ type: z.literal('room.delete'), id: FrameId, room: RoomName });
/** `room.list` pages: `after` is the `next` cursor of the previous page, `filter` a name substring. */
export const RoomListFrame = z.strictObject({
  type: z.literal('room.list'),
  id: FrameId,
  after: RoomName.optional(),
  filter: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -')
    .optional(),
  limit: z.number().int().min(1).max(200).optional(),
});
export const ChatSendFrame = z.strictObject({
  type: z.literal('chat.send'),
  id: FrameId,
  room: RoomName,
  text: Text,
  replyTo: MessageId.optional(),
  ts: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});
export const ChatHistoryFrame = z.strictObject({
  type: z.literal('chat.history'),
  id: FrameId,
  room: RoomName,
  before: Seq.optional(),
  after: Seq.optional(),
  limit: z.number().int().min(1).max(100).optional(),
});
export const ChatDeleteFrame = z.strictObject({ type: z.literal('chat.delete'), id: FrameId, room: RoomName, message: MessageId });
/** Edits the text of one's own message (docs/protocol.md "`chat.edit`"); `id` is an idempotency key like `chat.send`'s. */
export const ChatEditFrame = z.strictObject({ type: z.literal('chat.edit'), id: FrameId, room: RoomName, message: MessageId, text: Text });
/** "I am typing" in a room: no `id`, no reply on success, never stored (docs/protocol.md "`chat.typing`"). */
export const ChatTypingFrame = z.strictObject({ type: z.literal('chat.typing'), room: RoomName });
/** Who is online in a room (docs/protocol.md "`presence`"). */
export const PresenceFrame = z.strictObject({ type: z.literal('presence'), id: FrameId, room: RoomName });
export const AdminBroadcastFrame = z.strictObject({ type: z.literal('admin.broadcast'), id: FrameId, text: Text });

/** Every client frame type, keyed by its `type`. */
export const CLIENT_FRAMES = {
  auth: AuthFrame,
  'auth.refresh': AuthRefreshFrame,
  'room.create': RoomCreateFrame,
  'room.join': RoomJoinFrame,
  'room.leave': RoomLeaveFrame,
  'room.invite': RoomInviteFrame,
  'room.kick': RoomKickFrame,
  'room.delete': RoomDeleteFrame,
  'room.list': RoomListFrame,
  'chat.send': ChatSendFrame,
  'chat.history': ChatHistoryFrame,
  'chat.delete': ChatDeleteFrame,
  'chat.edit': ChatEditFrame,
  'chat.typing': ChatTypingFrame,
  presence: PresenceFrame,
  'admin.broadcast': AdminBroadcastFrame,
} as const;

export type ClientFrameType = keyof typeof CLIENT_FRAMES;
export type ClientFrameOf<T extends ClientFrameType> = z.infer<(typeof CLIENT_FRAMES)[T]>;
export type ClientFrame = { [T in ClientFrameType]: ClientFrameOf<T> }[ClientFrameType];
export const CLIENT_FRAME_TYPES = Object.keys(CLIENT_FRAMES) as ClientFrameType[];

export function isClientFrameType(type: string): type is ClientFrameType {
  return Object.prototype.hasOwnProperty.call(CLIENT_FRAMES, type);
}

// ---- server -> client ----

export interface UserRef {
  id: string;
  name: string;
}

export interface Room {
  name: string;
  owner: string;
  visibility: 'public' | 'private';
  createdAt: number;
}

export interface LiveMessage {
  id: string;
  seq: number;
  room: string;
  user: UserRef;
  text: string;
  ts: number;
  replyTo?: string;
  /** When the text was last edited (ms); absent on a message never edited. */
  editedAt?: number;
}

export interface DeletedMessage {
  id: string;
  seq: number;
  room: string;
  deleted: true;
}

/**
 * A stored message whose text this node cannot decrypt (a key it does not hold, or a damaged
 * row): who sent it and when, without text. Only in history and resume, never live.
 */
export interface UnavailableMessage {
  id: string;
  seq: number;
  room: string;
  user: UserRef;
  ts: number;
  replyTo?: string;
  editedAt?: number;
  unavailable: true;
}

export type Message = LiveMessage | DeletedMessage | UnavailableMessage;

export interface SecurityAlertEvent {
  type: string;
  severity: string;
  ts: number;
  ip?: string;
  user?: string;
  /** The server's own values; text a client supplied is under `untrusted` (neutralised, truncated). */
  detail?: Record<string, unknown> & { untrusted?: Record<string, unknown> };
}

export interface WelcomeFrame {
  type: 'welcome';
  user: { id: string; name: string; roles: string[] };
  connectionId: string;
  heartbeatMs: number;
  limits: { maxPayloadBytes: number; maxMessageChars: number };
}

export interface AckFrame {
  type: 'ack';
  id: string;
  [field: string]: unknown;
}

/** Client frames answered with `ack`/`error` (`auth` is answered with `welcome`; `chat.typing` has no `id` and no reply). */
export type RequestFrameType = Exclude<ClientFrameType, 'auth' | 'chat.typing'>;

/**
 * What each request's `ack` carries besides `type` and `id` (docs/protocol.md, "Frames"). The
 * domain builds its acks against this table and the SDK derives its ack types from it, so the
 * two cannot drift; `AckBodyOf` fails to compile if a request type has no entry.
 */
export interface AckBodies {
  'auth.refresh': { expiresAt: number };
  'room.create': { room: Room };
  'room.join': { room: Room; history: Message[]; hasMore: boolean };
  'room.leave': { room: string };
  'room.invite': { room: string; user: string };
  'room.kick': { room: string; user: string };
  'room.delete': { room: string };
  /** `next`: present when more rooms follow; send it back as `after` for the next page. */
  'room.list': { rooms: Room[]; next?: string };
  /** `duplicate: true` when the same `id` was sent before: the first ack, nothing stored twice. */
  'chat.send': { message: { id: string; seq: number; ts: number }; duplicate?: boolean };
  'chat.history': { room: string; messages: Message[]; hasMore: boolean };
  'chat.delete': { room: string; message: string };
  /** `duplicate: true` when the same `id` was sent before: the first ack, nothing applied twice. */
  'chat.edit': { room: string; message: { id: string; seq: number; editedAt: number }; duplicate?: boolean };
  /** Users with a live connection joined to the room, across all nodes. */
  presence: { room: string; members: UserRef[] };
  'admin.broadcast': { ts: number };
}

export type AckBodyOf<T extends RequestFrameType> = AckBodies[T];

/** The `ack` frame answering a request of type `T`. */
export type AckOf<T extends RequestFrameType> = { type: 'ack'; id: string } & AckBodyOf<T>;

export interface ErrorFrame {
  type: 'error';
  id?: string;
  code: import('./errors.js').ErrorCode;
  message: string;
  details?: import('./errors.js').ErrorDetail[];
  retryAfterMs?: number;
}

export type ServerFrame =
  | WelcomeFrame
  | AckFrame
  | ErrorFrame
  | { type: 'chat.message'; room: string; message: LiveMessage }
  | { type: 'chat.deleted'; room: string; message: string }
  /** The message with its new text and `editedAt`. */
  | { type: 'chat.edited'; room: string; message: LiveMessage }
  | { type: 'chat.typing'; room: string; user: UserRef }
  | { type: 'presence.joined'; room: string; user: UserRef }
  | { type: 'presence.left'; room: string; user: UserRef }
  | { type: 'room.deleted'; room: string }
  | { type: 'room.removed'; room: string }
  /** Live delivery of the room may have skipped messages with `seq >= fromSeq`: fetch history after `fromSeq - 1`. */
  | { type: 'room.resync'; room: string; fromSeq: number }
  | { type: 'announcement'; text: string; from: string; ts: number }
  | { type: 'auth.refresh_required'; expiresAt: number }
  | { type: 'security.alert'; event: SecurityAlertEvent }
  | { type: 'close'; code: number; reason: string };
