/**
 * The Bulwark client: one logical connection that survives drops. A small state machine —
 * idle → connecting → open → (reconnecting → connecting → open)* → closed — with the contract's
 * client duties around it: authenticate early or with a frame, answer `auth.refresh_required`,
 * reconnect with capped, fully jittered backoff, obey close codes and `Retry-After`, rejoin rooms
 * from the last `seq` seen and resend unacknowledged messages with their original ids.
 */
import { CLOSE, CLOSE_CODES, type CloseCode } from '../src/protocol/close-codes.js';
import { BEARER_PREFIX, SUBPROTOCOL } from '../src/protocol/constants.js';
import type { ErrorFrame, LiveMessage, Message, RequestFrameType, ServerFrame, WelcomeFrame } from '../src/protocol/frames.js';
import { checkAckBody, checkServerFrame } from '../src/protocol/server-frames.js';
import { afterServerHint, DEFAULT_BACKOFF, fullJitter, parseRetryAfter } from './backoff.js';
import { Emitter } from './emitter.js';
import { BulwarkError } from './errors.js';
import { newId } from './ids.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import { banFromReason, bannedReason, probeBan } from './restrictions.js';
import { RoomCursor } from './room-cursor.js';
import type {
  AckOf,
  ClientEvents,
  ConnectionState,
  ConnectOptions,
  ReconnectOptions,
  RequestFields,
  RequestType,
  DroppedFrame,
  EditOptions,
  PresenceMember,
  SendAck,
  SendOptions,
  TokenProvider,
  WebSocketLike,
} from './types.js';

const OPEN = 1;
/** Our own close code for "we gave up on this socket" (no welcome in time). */
const CLIENT_TIMEOUT = 4000;
const MAX_TIMER_MS = 2_147_483_647;
/** Largest server frame accepted, in characters, unless `maxFrameChars` says otherwise. */
const MAX_FRAME_CHARS = 8 * 1024 * 1024;
/** Pages of catch-up fetched per room on resume (100 messages each). */
const MAX_RESUME_PAGES = 50;

type Dial = new (url: string, protocols: string[], options?: unknown) => WebSocketLike;

interface Pending {
  /** The request's type: its ack is checked against that type's schema. */
  type: RequestFrameType;
  resolve(frame: Record<string, unknown>): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface HandshakeInfo {
  status?: number;
  retryAfterMs?: number;
}

function errorFromFrame(frame: ErrorFrame): BulwarkError {
  const extra: { retryAfterMs?: number; details?: ErrorFrame['details'] } = {};
  if (typeof frame.retryAfterMs === 'number') extra.retryAfterMs = frame.retryAfterMs;
  if (frame.details) extra.details = frame.details;
  return new BulwarkError(frame.code, frame.message, extra);
}

export class BulwarkClient extends Emitter<ClientEvents> {
  private readonly dial: Dial;
  private readonly options: Required<Pick<ConnectOptions, 'url' | 'authMode' | 'requestTimeoutMs' | 'connectTimeoutMs'>> & ConnectOptions;
  private readonly backoff: ReconnectOptions | false;
  private readonly outbox: Outbox;
  private readonly pending = new Map<string, Pending>();
  /** Requests made while not open, sent on the next `welcome`. */
  private readonly waiting = new Map<string, { frame: Record<string, unknown>; pending: Pending }>();
  private readonly rooms = new Map<string, RoomCursor>();
  /** When `typing()` last sent a signal, per room (one per `typingIntervalMs`). */
  private readonly typingSent = new Map<string, number>();

  private ws: WebSocketLike | undefined;
  private handshake: HandshakeInfo = {};
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private currentToken: string | undefined;
  /** A token the provider handed over after a refusal, used by the next attempt. */
  private nextToken: string | undefined;
  private failures = 0;
  private everOpened = false;
  private _state: ConnectionState = 'idle';
  private _welcome: WelcomeFrame | undefined;
  private _bannedUntil: number | undefined;

  constructor(options: ConnectOptions) {
    super();
    this.options = { authMode: 'subprotocol', requestTimeoutMs: 10_000, connectTimeoutMs: 10_000, ...options };
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: ConnectOptions['WebSocket'] }).WebSocket;
    if (!impl) throw new TypeError('No WebSocket implementation: pass `WebSocket` (e.g. the `ws` package) in Node 20.');
    this.dial = impl as unknown as Dial;
    this.backoff = options.reconnect === false ? false : { ...DEFAULT_BACKOFF, maxAttempts: Infinity, overloadFloorMs: 5000, ...options.reconnect };
    this.outbox = new Outbox(options.outboxLimit ?? 100);
    // Deferred, so listeners attached right after `connect()` see the first `connecting`.
    if (options.autoConnect !== false) queueMicrotask(() => this._state === 'idle' && this.connect());
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The last `welcome`: who we are and the server's limits. */
  get welcome(): WelcomeFrame | undefined {
    return this._welcome;
  }

  /** The end of the last ban the server reported (ms since the epoch), while it lasts. */
  get bannedUntil(): number | undefined {
    return this._bannedUntil !== undefined && this._bannedUntil > Date.now() ? this._bannedUntil : undefined;
  }

  /** Messages waiting in the outbox (queued or unacknowledged). */
  get outboxSize(): number {
    return this.outbox.size;
  }

  /** Rooms the client rejoins after a reconnect. */
  get joinedRooms(): string[] {
    return [...this.rooms.keys()];
  }

  /** The highest `seq` seen in a joined room. */
  lastSeq(room: string): number | undefined {
    return this.rooms.get(room)?.lastSeq;
  }

  /** Starts connecting (only needed with `autoConnect: false`, or after `closed` to start over). */
  connect(): void {
    if (this._state === 'connecting' || this._state === 'open') return;
    this.clearRetry();
    void this.open();
  }

  /** Resolves at the next `welcome` (at once when open); rejects if the client closes first. */
  ready(): Promise<WelcomeFrame> {
    if (this._state === 'open' && this._welcome) return Promise.resolve(this._welcome);
    if (this._state === 'closed') return Promise.reject(new BulwarkError('CLOSED', 'The client is closed.'));
    return new Promise((resolve, reject) => {
      const offOpen = this.on('open', ({ welcome }) => {
        offClosed();
        resolve(welcome);
      });
      const offClosed = this.on('closed', ({ code, reason }) => {
        offOpen();
        reject(new BulwarkError('CLOSED', `The connection closed (${code}${reason ? `: ${reason}` : ''}).`));
      });
    });
  }

  /** Closes for good: no reconnect; pending requests and the outbox are rejected with `CLOSED`. */
  close(code: number = CLOSE.NORMAL, reason = 'client closed'): void {
    if (this._state === 'closed') return;
    const ws = this.ws;
    this.detach();
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
    }
    this.finish(code, reason);
  }

  /**
   * Sends a frame with an id and resolves with its `ack`, or rejects with the server's `error`
   * (a `BulwarkError` carrying the wire code), `TIMEOUT`, `DISCONNECTED` or `CLOSED`. Made before
   * `welcome` or while the connection is down, the request waits for the next `welcome` (within
   * the timeout).
   */
  request<T extends RequestType>(type: T, fields: RequestFields<T>, options: { timeoutMs?: number } = {}): Promise<AckOf<T>> {
    const id = fields.id ?? newId();
    const frame = { ...fields, type, id };
    return new Promise<AckOf<T>>((resolve, reject) => {
      if (this._state === 'closed') {
        reject(new BulwarkError('CLOSED', 'The client is closed.'));
        return;
      }
      if (this.pending.has(id) || this.waiting.has(id)) {
        reject(new BulwarkError('CONFLICT', `A request with id ${id} is already waiting.`));
        return;
      }
      const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
      const pending: Pending = { type, resolve: resolve as unknown as (f: Record<string, unknown>) => void, reject, timer: undefined };
      pending.timer = setTimeout(() => {
        this.waiting.delete(id);
        this.pending.delete(id);
        reject(new BulwarkError('TIMEOUT', `No reply to ${type} within ${timeoutMs} ms.`));
      }, timeoutMs);
      if (this._state === 'open') {
        this.pending.set(id, pending);
        this.write(frame);
      } else {
        this.waiting.set(id, { frame, pending });
      }
    });
  }

  /**
   * Sends a chat message. While disconnected it waits in the bounded outbox and goes out after
   * the reconnect with the same id, so the server stores it once even if the first copy arrived.
   * Resolves with the ack (`duplicate: true` when the server had it already).
   */
  send(room: string, text: string, options: SendOptions = {}): Promise<SendAck> {
    if (this._state === 'closed') return Promise.reject(new BulwarkError('CLOSED', 'The client is closed.'));
    if (this.outbox.full) {
      return Promise.reject(new BulwarkError('OUTBOX_FULL', `The outbox is full: ${this.outbox.limit} messages are waiting for the connection. Try again once it is back.`));
    }
    const id = options.id ?? newId();
    if (this.outbox.has(id)) return Promise.reject(new BulwarkError('CONFLICT', `A message with id ${id} is already waiting.`));
    return new Promise<SendAck>((resolve, reject) => {
      const entry: OutboxEntry = { id, room, text, inFlight: false, resolve, reject };
      if (options.replyTo !== undefined) entry.replyTo = options.replyTo;
      this.outbox.add(entry);
      if (this._state === 'open') this.transmit(entry);
    });
  }

  /**
   * Joins a room and follows it across reconnects. Resolves with the ack (latest history, up to
   * 100 messages); live messages then arrive as `message` events, never one already in `history`.
   */
  async join(room: string): Promise<AckOf<'room.join'>> {
    const existing = this.rooms.get(room);
    const cursor = existing ?? new RoomCursor();
    if (!existing) this.rooms.set(room, cursor);
    cursor.buffer ??= [];
    try {
      const ack = await this.request('room.join', existing ? { room, since: existing.since() } : { room });
      for (const message of ack.history) cursor.mark(message);
      this.releaseBuffer(room, cursor, false);
      this.afterCatchUp(room, cursor);
      return ack;
    } catch (error) {
      if (!existing) this.rooms.delete(room);
      else this.releaseBuffer(room, cursor, false);
      throw error;
    }
  }

  /** Stops following a room and leaves it. */
  async leave(room: string): Promise<AckOf<'room.leave'>> {
    this.rooms.delete(room);
    return this.request('room.leave', { room });
  }

  /** Older (or newer) messages of a room, ascending by seq. */
  history(room: string, page: { before?: number; after?: number; limit?: number } = {}): Promise<AckOf<'chat.history'>> {
    return this.request('chat.history', { room, ...page });
  }

  /**
   * Replaces the text of one of your own messages. Resolves with the ack (`duplicate: true` when the
   * server had this edit's `id` already); members get an `edited` event with the new text.
   */
  edit(room: string, message: string, text: string, options: EditOptions = {}): Promise<AckOf<'chat.edit'>> {
    return this.request('chat.edit', options.id !== undefined ? { room, message, text, id: options.id } : { room, message, text });
  }

  /**
   * Tells the room's other members you are typing. Call it on every keystroke: at most one signal
   * per room goes out per `typingIntervalMs` (the server forwards no more anyway), and none while
   * disconnected (typing is never queued). Returns whether a signal went out.
   */
  typing(room: string): boolean {
    if (this._state !== 'open') return false;
    const now = Date.now();
    const last = this.typingSent.get(room);
    if (last !== undefined && now - last < (this.options.typingIntervalMs ?? 2000)) return false;
    if (this.typingSent.size >= 256) this.typingSent.clear();
    this.typingSent.set(room, now);
    this.write({ type: 'chat.typing', room });
    return true;
  }

  /** Who is online in a room (users with a live connection joined to it, on any node). Members only. */
  async presence(room: string): Promise<PresenceMember[]> {
    return (await this.request('presence', { room })).members;
  }

  // ---- connection lifecycle ----

  private setState(state: ConnectionState): void {
    this._state = state;
  }

  private async open(): Promise<void> {
    const attempt = this.failures;
    this.setState('connecting');
    this.emit('connecting', { attempt });
    this.emit('state', { state: 'connecting', attempt });
    let token: string;
    try {
      token = await this.token();
    } catch (error) {
      if (this._state !== 'connecting') return;
      this.emit('error', new BulwarkError('TOKEN', 'The token provider failed.', { cause: error }));
      this.afterClose(CLOSE.UNAUTHENTICATED, 'no token');
      return;
    }
    if (this._state !== 'connecting') return; // closed meanwhile
    this.currentToken = token;
    const protocols = [SUBPROTOCOL];
    if (this.options.authMode === 'subprotocol') protocols.push(BEARER_PREFIX + token);
    const nodeOptions =
      this.options.origin !== undefined || this.options.headers
        ? { headers: { ...this.options.headers, ...(this.options.origin !== undefined ? { Origin: this.options.origin } : {}) } }
        : undefined;
    let ws: WebSocketLike;
    try {
      ws = nodeOptions ? new this.dial(this.options.url, protocols, nodeOptions) : new this.dial(this.options.url, protocols);
    } catch (error) {
      // A malformed URL throws synchronously: retrying cannot help.
      this.emit('error', new BulwarkError('BAD_REQUEST', 'Could not open the WebSocket.', { cause: error }));
      this.finish(1006, 'cannot open');
      return;
    }
    this.ws = ws;
    this.handshake = {};
    this.watchHandshake(ws);
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (this.options.authMode === 'frame') ws.send(JSON.stringify({ type: 'auth', token }));
    };
    ws.onmessage = (event) => this.onData(ws, event.data);
    ws.onerror = () => undefined; // a close event always follows
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.detach();
      // A browser never shows why a handshake was refused: ask whether it was a ban.
      if (!opened && event.code === 1006 && this.handshake.status === undefined && this.options.probeBans !== false) {
        void this.probeThenClose(event.code, event.reason, token);
        return;
      }
      this.afterClose(event.code, event.reason);
    };
    this.connectTimer = setTimeout(() => {
      if (ws !== this.ws || this._state === 'open') return;
      this.detach();
      try {
        ws.close();
      } catch {
        /* already closing */
      }
      this.afterClose(CLIENT_TIMEOUT, 'no welcome in time');
    }, this.options.connectTimeoutMs);
  }

  /** Node's `ws` reports the HTTP status and `Retry-After` of a refused handshake; browsers never do. */
  private watchHandshake(ws: WebSocketLike): void {
    const emitter = ws as unknown as {
      on?: (event: string, fn: (req: { destroy(): void }, res: { statusCode?: number; headers: Record<string, string | string[] | undefined>; resume(): void }) => void) => void;
      terminate?: () => void;
    };
    if (typeof emitter.on !== 'function' || typeof emitter.terminate !== 'function') return;
    emitter.on('unexpected-response', (_req, res) => {
      const header = res.headers['retry-after'];
      const info: HandshakeInfo = {};
      if (res.statusCode !== undefined) info.status = res.statusCode;
      const retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header);
      if (retryAfterMs !== undefined) info.retryAfterMs = retryAfterMs;
      if (ws === this.ws) this.handshake = info;
      res.resume();
      emitter.terminate!(); // ends in a 1006 close event
    });
  }

  /** Forgets the current socket so its late events are ignored. */
  private detach(): void {
    const ws = this.ws;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.ws = undefined;
    if (ws) {
      ws.onmessage = null;
      ws.onopen = null;
      ws.onclose = null;
    }
    // In-flight requests cannot be answered any more; in-flight sends go back to the outbox.
    for (const [id, pending] of this.pending) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(new BulwarkError('DISCONNECTED', 'The connection dropped before the reply; the request may or may not have run.'));
      this.pending.delete(id);
    }
    this.outbox.requeue();
  }

  private async probeThenClose(code: number, reason: string, token: string): Promise<void> {
    this.setState('reconnecting');
    const until = await probeBan(this.options.url, token);
    if (this._state !== 'reconnecting') return; // closed or reconnected meanwhile
    if (until !== undefined) return this.afterBan(until, 403, bannedReason(until));
    this.afterClose(code, reason);
  }

  private afterClose(code: number, reason: string): void {
    if (this._state === 'closed') return;
    const { status, retryAfterMs } = this.handshake;
    this.handshake = {};
    // A ban says until when: wait for it instead of asking for another token or backing off blindly.
    const banUntil = banFromReason(reason) ?? (status === 403 && retryAfterMs !== undefined ? Date.now() + retryAfterMs : undefined);
    if (banUntil !== undefined) return this.afterBan(banUntil, code, reason || bannedReason(banUntil));
    const refused = code === CLOSE.UNAUTHENTICATED || code === CLOSE.FORBIDDEN || status === 401 || status === 403;
    if (refused) {
      void this.afterRefusal(code, reason);
      return;
    }
    const known = CLOSE_CODES[code as CloseCode];
    if (known && !known.reconnect) return this.finish(code, reason);
    const overloaded = code === CLOSE.TOO_MANY || status === 429 || status === 503;
    const floor = retryAfterMs ?? (overloaded && this.backoff ? this.backoff.overloadFloorMs : undefined);
    this.scheduleReconnect(code, reason, floor);
  }

  /** Banned until `until`: tell the application, and try again only then. */
  private afterBan(until: number, code: number, reason: string): void {
    this._bannedUntil = until;
    this.emit('banned', { until, code, reason });
    if (this._state === 'closed') return; // a listener closed us
    this.scheduleReconnect(code, reason, Math.max(0, until - Date.now()));
  }

  /** 4401/4403: stop, unless the token provider has a different token to try. */
  private async afterRefusal(code: number, reason: string): Promise<void> {
    const provider = typeof this.options.token === 'function' ? this.options.token : undefined;
    if (!provider || !this.backoff) return this.finish(code, reason);
    const refusedToken = this.currentToken;
    this.setState('reconnecting');
    let next: string | undefined;
    try {
      next = await provider({ reason: 'rejected' });
    } catch {
      next = undefined;
    }
    if (this._state !== 'reconnecting') return; // closed meanwhile
    if (!next || next === refusedToken) return this.finish(code, reason);
    this.nextToken = next;
    this.scheduleReconnect(code, reason, undefined);
  }

  private scheduleReconnect(code: number, reason: string, floorMs: number | undefined): void {
    const policy = this.backoff;
    if (!policy || this.failures >= policy.maxAttempts) return this.finish(code, reason);
    const attempt = this.failures++;
    // Node timers overflow past 2^31-1 ms (~24.8 days): a longer wait fires early, is refused again and waits again.
    const inMs = Math.min(MAX_TIMER_MS, floorMs !== undefined ? afterServerHint(floorMs, attempt, policy) : fullJitter(attempt, policy));
    this.setState('reconnecting');
    this.emit('reconnecting', { inMs, attempt: attempt + 1, code, reason });
    this.emit('state', { state: 'reconnecting', inMs, attempt: attempt + 1, code, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this._state === 'reconnecting') void this.open();
    }, inMs);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Terminal state: everything waiting learns that it will not happen. */
  private finish(code: number, reason: string): void {
    this.clearRetry();
    this.setState('closed');
    const closed = new BulwarkError('CLOSED', `The connection closed (${code}${reason ? `: ${reason}` : ''}).`);
    const all = [...this.pending.values(), ...[...this.waiting.values()].map((w) => w.pending)];
    this.pending.clear();
    this.waiting.clear();
    for (const pending of all) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(closed);
    }
    this.outbox.drain(closed);
    this.emit('closed', { code, reason });
    this.emit('state', { state: 'closed', code, reason });
  }

  private async token(): Promise<string> {
    const source = this.options.token;
    if (typeof source === 'string') return source;
    // After a refusal the provider already handed us the token to try.
    const handed = this.nextToken;
    this.nextToken = undefined;
    return handed ?? (source as TokenProvider)({ reason: 'connect' });
  }

  // ---- frames ----

  private write(frame: Record<string, unknown>): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return; // the close handler requeues or rejects
    ws.send(JSON.stringify(frame));
  }

  private transmit(entry: OutboxEntry): void {
    entry.inFlight = true;
    const frame: Record<string, unknown> = { type: 'chat.send', id: entry.id, room: entry.room, text: entry.text };
    if (entry.replyTo !== undefined) frame.replyTo = entry.replyTo;
    this.write(frame);
  }

  /** A server frame that failed its check: reported, never handed to the application. */
  private drop(dropped: DroppedFrame): void {
    this.emit('dropped', dropped);
  }

  private onData(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.ws) return;
    const text = typeof data === 'string' ? data : String(data);
    if (text.length > (this.options.maxFrameChars ?? MAX_FRAME_CHARS)) return this.drop({ reason: 'too_large', size: text.length });
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.drop({ reason: 'not_json', size: text.length });
    }
    const checked = checkServerFrame(value);
    if (!checked.ok) {
      const dropped: DroppedFrame = { reason: checked.reason, size: text.length };
      if (checked.type !== undefined) dropped.type = checked.type;
      if (checked.problem !== undefined) dropped.problem = checked.problem;
      return this.drop(dropped);
    }
    const frame = checked.frame;
    if (frame.type === 'ack') {
      // The ack of a request this client made is checked against that request's schema.
      const pending = this.pending.get(frame.id);
      const problem = pending ? checkAckBody(pending.type, frame) : this.outbox.has(frame.id) ? checkAckBody('chat.send', frame) : undefined;
      if (problem !== undefined) {
        this.drop({ reason: 'schema', type: 'ack', problem, size: text.length });
        const error = new BulwarkError('MALFORMED', `The server's reply did not match its schema (${problem}).`);
        if (pending) {
          this.pending.delete(frame.id);
          if (pending.timer) clearTimeout(pending.timer);
          pending.reject(error);
        } else {
          this.outbox.take(frame.id)?.reject(error);
        }
        return;
      }
    }
    this.emit('frame', frame);
    switch (frame.type) {
      case 'welcome':
        return this.onWelcome(frame);
      case 'ack':
      case 'error':
        return this.onReply(frame);
      case 'chat.message':
        return this.onLive(frame.room, frame.message);
      case 'chat.deleted':
        return this.emit('deleted', { room: frame.room, message: frame.message });
      case 'chat.edited':
        return this.emit('edited', { room: frame.room, message: frame.message });
      case 'chat.typing':
        return this.emit('typing', { room: frame.room, user: frame.user });
      case 'presence.joined':
      case 'presence.left':
        return this.emit(frame.type, { room: frame.room, user: frame.user });
      case 'room.resync':
        return this.onResync(frame.room, frame.fromSeq);
      case 'room.deleted':
      case 'room.removed':
        this.rooms.delete(frame.room);
        return this.emit(frame.type, { room: frame.room });
      case 'announcement':
        return this.emit('announcement', { text: frame.text, from: frame.from, ts: frame.ts });
      case 'security.alert':
        return this.emit('security.alert', { event: frame.event });
      case 'auth.refresh_required':
        void this.refresh();
        return;
      default:
        return;
    }
  }

  private onWelcome(welcome: WelcomeFrame): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const resumed = this.everOpened;
    this.everOpened = true;
    this.failures = 0;
    this._welcome = welcome;
    this.setState('open');
    this.emit('open', { welcome, resumed });
    this.emit('state', { state: 'open', welcome, resumed });
    if (this._state !== 'open') return; // a listener closed us
    for (const [room, cursor] of this.rooms) if (resumed) void this.resume(room, cursor);
    for (const entry of this.outbox.waiting()) this.transmit(entry);
    for (const [id, { frame, pending }] of [...this.waiting]) {
      this.waiting.delete(id);
      this.pending.set(id, pending);
      this.write(frame);
    }
  }

  private onReply(frame: Extract<ServerFrame, { type: 'ack' | 'error' }>): void {
    if (frame.type === 'error' && frame.code === 'SPAM' && typeof frame.retryAfterMs === 'number') this.emit('muted', { until: Date.now() + frame.retryAfterMs });
    const id = frame.id;
    if (id !== undefined) {
      const entry = this.outbox.take(id);
      if (entry) {
        if (frame.type === 'ack') entry.resolve(frame as unknown as SendAck);
        else entry.reject(errorFromFrame(frame));
        return;
      }
      const pending = this.pending.get(id);
      if (pending) {
        this.pending.delete(id);
        if (pending.timer) clearTimeout(pending.timer);
        if (frame.type === 'ack') pending.resolve(frame);
        else pending.reject(errorFromFrame(frame));
        return;
      }
    }
    if (frame.type === 'error') this.emit('error', errorFromFrame(frame));
  }

  private onLive(room: string, message: LiveMessage): void {
    const cursor = this.rooms.get(room);
    if (!cursor) return this.emit('message', { room, message, resumed: false });
    if (cursor.buffer) {
      cursor.buffer.push(message);
      return;
    }
    if (cursor.skips(message)) {
      // Messages between the last one seen and this one never arrived: fetch them first.
      cursor.gap(cursor.lastSeq + 1);
      cursor.buffer = [message];
      void this.catchUp(room, cursor);
      return;
    }
    if (cursor.mark(message)) this.emit('message', { room, message, resumed: false });
  }

  /** `room.resync`: live delivery may have skipped messages from `fromSeq` on; fetch them from history. */
  private onResync(room: string, fromSeq: number): void {
    const cursor = this.rooms.get(room);
    if (!cursor) return;
    cursor.gap(fromSeq);
    // A join, resume or catch-up running now sees the new gap and fetches again before it ends.
    if (!cursor.buffer) void this.catchUp(room, cursor);
  }

  /**
   * Fetches history after `after` to the end (when `hasMore`) and delivers what was missed, in
   * order and once; again from `cursor.since()` while new gaps were reported meanwhile. Returns
   * how many messages were delivered.
   */
  private async fetchGaps(room: string, cursor: RoomCursor, after: number, hasMore: boolean): Promise<number> {
    let missed = 0;
    for (;;) {
      const gaps = cursor.gaps;
      for (let page = 0; hasMore && page < MAX_RESUME_PAGES; page++) {
        const next = await this.history(room, { after, limit: 100 });
        for (const message of next.messages) missed += this.deliver(room, cursor, message, true);
        hasMore = next.hasMore && next.messages.length > 0;
        if (next.messages.length > 0) after = next.messages[next.messages.length - 1]!.seq;
      }
      if (cursor.gaps === gaps) {
        cursor.gapFrom = undefined;
        return missed;
      }
      after = cursor.since();
      hasMore = true;
    }
  }

  /** Catches a room up after a gap, while live messages wait in its buffer. */
  private async catchUp(room: string, cursor: RoomCursor): Promise<void> {
    cursor.buffer ??= [];
    try {
      let missed = await this.fetchGaps(room, cursor, cursor.since(), true);
      missed += this.releaseBuffer(room, cursor, true);
      this.emit('resynced', { room, missed });
    } catch (error) {
      this.caughtUpFailed(room, cursor, error);
      return;
    }
    this.afterCatchUp(room, cursor);
  }

  /** Buffered messages that skipped ahead start another round at once. */
  private afterCatchUp(room: string, cursor: RoomCursor): void {
    if (!cursor.buffer && cursor.gapFrom !== undefined && this.rooms.get(room) === cursor && this._state === 'open') void this.catchUp(room, cursor);
  }

  private caughtUpFailed(room: string, cursor: RoomCursor, error: unknown): void {
    const err = error instanceof BulwarkError ? error : new BulwarkError('INTERNAL', String(error));
    if (err.code === 'DISCONNECTED' || err.code === 'CLOSED') {
      // The next welcome resumes from `since()`: the gap is still recorded; keep what arrived so far.
      return;
    }
    if (err.code === 'NOT_FOUND' || err.code === 'FORBIDDEN') {
      this.rooms.delete(room);
      this.emit('room.removed', { room });
      this.emit('error', err);
      return;
    }
    this.releaseBuffer(room, cursor, true);
    this.emit('error', err);
    // The gap is still recorded: try again later (no faster than the server asks).
    if (cursor.gapFrom !== undefined) setTimeout(() => this.afterCatchUp(room, cursor), Math.max(1000, err.retryAfterMs ?? 2000));
  }

  private deliver(room: string, cursor: RoomCursor, message: Message, resumed: boolean): number {
    if (!cursor.mark(message)) return 0;
    if ('deleted' in message) {
      this.emit('deleted', { room, message: message.id });
      return 0;
    }
    if ('unavailable' in message) this.emit('unavailable', { room, message, resumed });
    else this.emit('message', { room, message, resumed });
    return 1;
  }

  private releaseBuffer(room: string, cursor: RoomCursor, resumed: boolean): number {
    let n = 0;
    for (const message of cursor.release()) {
      // A buffered live message past a hole nobody filled: note the gap (catchUp fetches it next).
      if (cursor.skips(message)) cursor.gap(cursor.lastSeq + 1);
      n += this.deliver(room, cursor, message, resumed);
    }
    return n;
  }

  /** Rejoins a room after a reconnect and delivers what was missed, in order, once. */
  private async resume(room: string, cursor: RoomCursor): Promise<void> {
    cursor.buffer ??= [];
    let missed = 0;
    try {
      const since = cursor.since();
      const ack = await this.request('room.join', { room, since });
      for (const message of ack.history) missed += this.deliver(room, cursor, message, true);
      const last = ack.history[ack.history.length - 1];
      missed += await this.fetchGaps(room, cursor, last ? last.seq : since, ack.hasMore);
      missed += this.releaseBuffer(room, cursor, true);
      this.emit('resumed', { room, missed });
    } catch (error) {
      this.caughtUpFailed(room, cursor, error);
      return;
    }
    this.afterCatchUp(room, cursor);
  }

  /** `auth.refresh_required`: ask the provider for a new token and extend the session. */
  private async refresh(): Promise<void> {
    if (typeof this.options.token !== 'function') return; // a fixed token cannot be renewed
    try {
      const token = await this.options.token({ reason: 'refresh' });
      const ack = await this.request('auth.refresh', { token });
      this.currentToken = token;
      this.emit('refreshed', { expiresAt: ack.expiresAt });
    } catch (error) {
      this.emit('error', error instanceof BulwarkError ? error : new BulwarkError('TOKEN', 'The token provider failed.', { cause: error }));
    }
  }
}

/** Creates a client and starts connecting. */
export function connect(options: ConnectOptions): BulwarkClient {
  return new BulwarkClient(options);
}
