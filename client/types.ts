/**
 * The SDK's public types. Frame shapes come from the server's own schemas
 * (`src/protocol/frames.ts`) as types only, so the bundle carries no schema library.
 */
import type {
  AckBodies,
  AckOf,
  ClientFrameOf,
  LiveMessage,
  Message,
  RequestFrameType,
  Room,
  SecurityAlertEvent,
  ServerFrame,
  UnavailableMessage,
  UserRef,
  WelcomeFrame,
} from '../src/protocol/frames.js';
import type { ServerFrameProblem } from '../src/protocol/server-frames.js';
import type { BulwarkError } from './errors.js';

export type { ClientFrameType } from '../src/protocol/frames.js';
export type { AckOf, ClientFrameOf, LiveMessage, Message, Room, SecurityAlertEvent, ServerFrame, UnavailableMessage, WelcomeFrame };
export type { DeletedMessage, UserRef, ErrorFrame, AckFrame } from '../src/protocol/frames.js';
export type { ServerFrameProblem } from '../src/protocol/server-frames.js';

/** Frame types a caller may send with `request()`; `auth` is the SDK's own business. */
export type RequestType = RequestFrameType;

/** The fields of a request: the frame without `type`; `id` is generated when left out. */
export type RequestFields<T extends RequestType> = Omit<ClientFrameOf<T>, 'type' | 'id'> & { id?: string };

/** What each request's `ack` carries besides `type` and `id`: the server's own table (`src/protocol/frames.ts`). */
export type AckFields = AckBodies;

/** Why the token provider is being asked. */
export type TokenReason =
  /** Opening a connection (the first, or a reconnect). */
  | 'connect'
  /** The server sent `auth.refresh_required`: the current token expires soon. */
  | 'refresh'
  /** The server refused the last token (4401/4403); return a different one to keep going. */
  | 'rejected';

export type TokenProvider = (context: { reason: TokenReason }) => string | Promise<string>;

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export type StateChange =
  | { state: 'connecting'; attempt: number }
  | { state: 'open'; welcome: WelcomeFrame; resumed: boolean }
  | { state: 'reconnecting'; inMs: number; attempt: number; code: number; reason: string }
  | { state: 'closed'; code: number; reason: string };

export interface ClientEvents {
  /** Every state change, in one stream. */
  state: StateChange;
  connecting: { attempt: number };
  /** Authenticated (`welcome` received). `resumed` is true after a reconnect. */
  open: { welcome: WelcomeFrame; resumed: boolean };
  /** The connection dropped; the next attempt starts in `inMs` milliseconds. */
  reconnecting: { inMs: number; attempt: number; code: number; reason: string };
  /** For good: the user closed the client, or the server said not to come back. */
  closed: { code: number; reason: string };
  /**
   * The server banned this user or address until `until` (ms since the epoch): a close
   * `banned until <ISO time>`, a refused handshake `403` with `Retry-After`, or what a browser
   * learned by asking after its socket failed to open. The client does not try again before
   * `until`; a `reconnecting` event follows with the wait.
   */
  banned: { until: number; code: number; reason: string };
  /** A `SPAM` refusal said the user is muted until `until` (ms since the epoch). */
  muted: { until: number };
  /**
   * A chat message, live or recovered from history (`resumed: true`: after a reconnect or a gap),
   * delivered once per message id and in `seq` order per room.
   */
  message: { room: string; message: LiveMessage; resumed: boolean };
  /**
   * A message recovered from history whose text the server cannot decrypt (docs/protocol.md, "The
   * message object"), in its place in the `seq` order of `message` events.
   */
  unavailable: { room: string; message: UnavailableMessage; resumed: boolean };
  /** A message was deleted (live, or learnt while resuming). */
  deleted: { room: string; message: string };
  /** A message's text was edited by its author: the message with its new `text` and `editedAt`. */
  edited: { room: string; message: LiveMessage };
  /** Another member is typing in the room (never your own signal; show it for a few seconds). */
  typing: { room: string; user: UserRef };
  /** A user came online in the room (their first connection joined it; a reconnect or a second tab is not announced). */
  'presence.joined': { room: string; user: UserRef };
  /** A user's last connection left the room (announced after the server's debounce). */
  'presence.left': { room: string; user: UserRef };
  /**
   * A server frame that was not JSON, too large, of an unknown type or not matching its schema:
   * dropped, never handed to the application as any other event.
   */
  dropped: DroppedFrame;
  /** Rooms that went away while joined. */
  'room.deleted': { room: string };
  'room.removed': { room: string };
  /** Catch-up after a reconnect finished for a room. */
  resumed: { room: string; missed: number };
  /**
   * Catch-up after a gap finished for a room: the server announced one (`room.resync`, e.g. after
   * a cluster node lost Redis for a while) or the live `seq`s skipped. The missed messages arrived
   * before this as `message` events (`resumed: true`), in order and once.
   */
  resynced: { room: string; missed: number };
  announcement: { text: string; from: string; ts: number };
  'security.alert': { event: SecurityAlertEvent };
  /** The session was extended with a new token. */
  refreshed: { expiresAt: number };
  /** An error that belongs to no request: an unsolicited `error` frame, a failed refresh or resume. */
  error: BulwarkError;
  /** Every frame the server sent, parsed, before the SDK handles it. */
  frame: ServerFrame;
}

/** A user in a presence list. */
export type PresenceMember = UserRef;

/** Why a server frame was dropped (the `dropped` event). */
export interface DroppedFrame {
  reason: ServerFrameProblem | 'too_large' | 'not_json';
  /** The frame's `type`, when it had a string one. */
  type?: string;
  /** The first field that did not match, as `path: what`. */
  problem?: string;
  /** The frame's length in characters. */
  size: number;
}

/** The parts of a WebSocket the SDK uses; both the browser's and the `ws` package's fit. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `ws`'s default export in Node. */
export type WebSocketImplementation = new (url: string, protocols: string[], options?: never) => object;

export interface ReconnectOptions {
  /** Upper bound of the first jitter window. @default 500 */
  baseMs: number;
  /** Largest jitter window. @default 30000 */
  maxMs: number;
  /** Give up (state `closed`) after this many failed attempts in a row. @default Infinity */
  maxAttempts: number;
  /** Least wait after a 4429 close or a 429/503 without `Retry-After`. @default 5000 */
  overloadFloorMs: number;
  /** Randomness in [0, 1). @default Math.random */
  random: () => number;
}

export interface ConnectOptions {
  /** `ws://host:port/ws` or `wss://…`. */
  url: string;
  /** A JWT, or a function returning one (called on every connect, on refresh and after a refusal). */
  token: string | TokenProvider;
  /**
   * How the token travels: as the subprotocol `bulwark.bearer.<jwt>` during the handshake, or as
   * an `auth` frame after it. @default "subprotocol"
   */
  authMode?: 'subprotocol' | 'frame';
  /** The WebSocket class; required in Node 20 (pass `ws`). @default globalThis.WebSocket */
  WebSocket?: WebSocketImplementation;
  /** Node only (`ws`): the `Origin` header. Browsers always send their page's origin. */
  origin?: string;
  /** Node only (`ws`): extra handshake headers. */
  headers?: Record<string, string>;
  /** Reply timeout of `request()`, counted from the call. @default 10000 */
  requestTimeoutMs?: number;
  /** Time allowed from dialling to `welcome` before the attempt counts as failed. @default 10000 */
  connectTimeoutMs?: number;
  /** Reconnect policy, or `false` to never reconnect. */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Largest server frame accepted, in characters; a larger one is dropped (`dropped` event). @default 8388608 */
  maxFrameChars?: number;
  /** `typing()` sends at most one signal per room within this window (match the server's `presence.typingIntervalMs`). @default 2000 */
  typingIntervalMs?: number;
  /** Most unacknowledged `send()`s kept while disconnected. @default 100 */
  outboxLimit?: number;
  /** Start connecting immediately. @default true */
  autoConnect?: boolean;
  /**
   * When a socket fails to open without a visible HTTP status (browsers), ask `GET` on the same
   * URL over HTTP whether a ban is the reason. @default true
   */
  probeBans?: boolean;
}

export interface SendOptions {
  /** The message this one answers (a server message id). */
  replyTo?: string;
  /** The idempotency key; generated when left out. Reusing one makes the server ignore the copy. */
  id?: string;
}

export type SendAck = AckOf<'chat.send'>;

export interface EditOptions {
  /** The idempotency key; generated when left out. Reusing one makes the server answer with the first ack. */
  id?: string;
}
