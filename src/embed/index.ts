/**
 * `bulwark/guard`: Bulwark's handshake and frame defences for an application's own `ws`
 * `WebSocketServer` or `socket.io` `Server`, configured with the same schema as the server and
 * reporting the same security events. Nothing here is a copy: the handshake guards, token
 * verification and admission, frame guards (rate, replay, sanitize, spam), abuse scoring and bans
 * are the server's own modules, wired to the application's sockets.
 *
 * ```ts
 * const guard = await createGuard({ auth: { secret }, origins: { allowed: ['https://app.example'] } });
 * // socket.io
 * const io = new Server(http, guard.socketioOptions);
 * io.use(guard.socketio());
 * io.on('connection', (socket) => socket.on('chat.send', guard.wrap(socket, (msg, ctx) => ...)));
 * // ws
 * const wss = new WebSocketServer({ server: http, ...guard.ws.options });
 * wss.on('connection', (ws, req) => { guard.ws.accept(ws, req); ws.on('message', guard.wrap(ws, handler)); });
 * ```
 */
import { runFrameGuards } from '../guards/frame/run.js';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Socket as IoSocket } from 'socket.io';
import type { WebSocket } from 'ws';
import type { ZodType } from 'zod';
import { TokenVerifier } from '../auth/jwt.js';
import { resolveVerifyKey } from '../auth/keys.js';
import { SessionAuth } from '../auth/session-auth.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { loadConfig } from '../config/load.js';
import type { Config, ConfigInput } from '../config/schema.js';
import type { Reply } from '../domain/reply.js';
import type { Principal } from '../domain/session.js';
import { createFrameGuards } from '../guards/frame/index.js';
import { checkFrame, parseFrame, replyId, structureProblem, type ParseResult } from '../guards/frame/parse.js';
import { validateFrame } from '../guards/frame/schema.js';
import type { FrameContext } from '../guards/frame/types.js';
import { Admission, type AdmissionPlan } from '../admission/admission.js';
import { connectErrorData, denialRefusal, refusalHeaders, rowOf } from '../admission/refusal.js';
import { describeRequest } from '../admission/request.js';
import type { Ticket } from '../admission/ticket.js';
import { ipBanGuard } from '../guards/handshake/ban.js';
import { headersGuard } from '../guards/handshake/headers.js';
import { normalizeOrigin, originGuard } from '../guards/handshake/origin.js';
import { handshakeRateGuard } from '../guards/handshake/rate.js';
import { BEARER_PREFIX } from '../guards/handshake/subprotocol.js';
import { findEarlyToken, type EarlyToken } from '../guards/handshake/token.js';
import type { HandshakeGuard, HandshakeRequest } from '../guards/handshake/types.js';
import { INBOX_HIGH_WATER } from '../pipeline/frame-pipeline.js';
import { RateLimits } from '../guards/rate-limits.js';
import { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import { ERROR_MESSAGES, type ErrorCode, type ErrorDetail } from '../protocol/errors.js';
import { isClientFrameType, type AckFrame, type ClientFrame, type ErrorFrame, type ServerFrame } from '../protocol/frames.js';
import { AbuseScores } from '../security/abuse.js';
import { SecurityAudit } from '../security/audit.js';
import { banCheck, Bans } from '../security/bans.js';
import type { SecurityEventType } from '../security/events.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { SecurityEventRecord, Store } from '../store/store.js';
import { Connection, type Outbound } from '../transport/connection.js';
import { Hub } from '../fanout/hub.js';
import { pendingBytes } from '../transport/socketio.js';

export type { Config, ConfigInput } from '../config/schema.js';
export type { SecurityEventRecord } from '../store/store.js';

export interface GuardOptions {
  /**
   * Where bans and security events are kept. @default SQLite at `<dataDir>/bulwark-guard.db`
   * (bans survive a restart; pass `':memory:'` via `storePath` for tests).
   */
  store?: Store;
  storePath?: string;
  /** @default a silent pino logger */
  logger?: Logger;
}

/** What a handler learns about the message's sender. */
export interface GuardContext {
  readonly user: Principal;
  readonly ip: string;
  /** Ends the connection the way Bulwark would (`close {code, reason}` on Socket.IO). */
  close(code: number, reason: string): void;
}

export type GuardHandler<T> = (message: T, ctx: GuardContext) => unknown;

export interface WrapOptions<T> {
  /**
   * Validates the message (use a strict object). @default "schema-lite": an object whose `type`,
   * when it names a contract frame, must match that frame's strict schema.
   */
  schema?: ZodType<T>;
  /**
   * The frame type the defences treat the message as: its `rateLimits.<type>` rule, and for
   * `chat.send` (fields `room`, `text`, optional `id` and `ts`) replay, sanitization and spam.
   * @default the message's own `type`, else `"message"`
   */
  type?: string;
}

/** A WebSocket or Socket.IO connection accepted by the guard. */
interface Guarded {
  readonly conn: Connection;
  readonly kind: 'ws' | 'socketio';
  queued: number;
  chain: Promise<void>;
}

export interface Guard {
  readonly config: Config;
  /** Every security event, as `'security'` and under its own type (`'origin_rejected'`, ...). */
  readonly events: EventEmitter;
  onEvent(listener: (event: SecurityEventRecord) => void): void;
  readonly bans: Bans;
  ws: {
    /** Spread into `new WebSocketServer({...})`: verifyClient, handleProtocols, maxPayload. */
    readonly options: {
      verifyClient: (
        info: { origin: string; secure: boolean; req: IncomingMessage },
        cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void,
      ) => void;
      handleProtocols: (protocols: Set<string>) => string | false;
      maxPayload: number;
      perMessageDeflate: false;
    };
    /** Registers an upgraded socket (after verifyClient); false when it was not vetted. */
    accept(ws: WebSocket, req: IncomingMessage): boolean;
  };
  /** Spread into `new Server(http, {...})`: limits, CORS from `origins.allowed`, no EIO3, no polling unless configured. */
  readonly socketioOptions: Record<string, unknown>;
  /** `io.use(guard.socketio())`: the handshake guards, then the token in `auth.token`. */
  socketio(): (socket: IoSocket, next: (err?: Error) => void) => void;
  /** A listener for `ws.on('message', ...)` or `socket.on(event, ...)` that runs the frame defences before `handler`. */
  wrap<T = Record<string, unknown>>(target: WebSocket | IoSocket, handler: GuardHandler<T>, options?: WrapOptions<T>): (...args: unknown[]) => void;
  /** The user's guarded connections (for tests and admin tools). */
  close(): Promise<void>;
}

function connectError(message: string, data: { code: ErrorCode; closeCode: number }): Error {
  return Object.assign(new Error(message), { data });
}

function errorFrame(code: ErrorCode, id: string | undefined, extra: { message?: string; details?: ErrorDetail[]; retryAfterMs?: number } = {}): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code, message: extra.message ?? ERROR_MESSAGES[code] };
  if (id !== undefined) frame.id = id;
  if (extra.details) frame.details = extra.details;
  if (extra.retryAfterMs !== undefined) frame.retryAfterMs = extra.retryAfterMs;
  return frame;
}

function containsBinary(value: unknown, depth = 0): boolean {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return true;
  if (value === null || typeof value !== 'object' || depth > 4) return false;
  for (const v of Object.values(value)) if (containsBinary(v, depth + 1)) return true;
  return false;
}

export async function createGuard(input: ConfigInput = {}, options: GuardOptions = {}): Promise<Guard> {
  const config = loadConfig({ env: {}, overrides: input as Record<string, unknown> });
  const log = options.logger ?? pino({ level: 'silent' });
  const store = options.store ?? new SqliteStore({ path: options.storePath ?? join(config.dataDir, 'bulwark-guard.db') });
  const bus = new MemoryBus();
  const hub = new Hub();
  bus.attach((envelope) => hub.deliver(envelope));
  const metrics = new Metrics({ defaults: false });
  const audit = new SecurityAudit(store, log, metrics);
  const events = new EventEmitter();
  audit.onEvent((type, event) => {
    events.emit('security', event);
    events.emit(type, event);
  });
  const bans = new Bans(store, bus, audit);
  await bans.load();
  new AbuseScores(config, bans, audit);
  const auth = new SessionAuth(new TokenVerifier(await resolveVerifyKey(config), config.auth), hub, config, audit);
  auth.addCheck(banCheck(bans));
  const rateLimits = new RateLimits(config.rateLimits);
  const frameGuards = createFrameGuards({ config, rateLimits, audit }).list;
  const trusted = new Set(config.trustProxy);
  const allowed = new Set(config.origins.allowed.map((o) => normalizeOrigin(o) ?? o));

  // The server's admission: the same guards, slots tied to the socket, one refusal table.
  const admission = new Admission({ config, audit, metrics, log, handshakeRate: rateLimits.get('handshake') });
  const before: HandshakeGuard[] = [
    headersGuard(config.limits),
    originGuard({ allowed: () => allowed, allowMissing: config.origins.allowMissing }),
    ipBanGuard(bans),
    handshakeRateGuard(rateLimits.get('handshake')),
  ];

  /**
   * A guarded connection authenticates at the handshake: its token is required and verified with
   * the admission checks (bans, per-user cap), so it never holds a pending-auth place.
   */
  function requiredToken(found: EarlyToken | 'query_refused'): HandshakeGuard {
    return {
      name: 'token',
      check: async function guardToken(hs) {
        if (found === 'query_refused') return { reason: 'query_token', event: 'query_token_refused' };
        if (found === undefined) return { reason: 'token', event: 'auth_failed', detail: { reason: 'missing_token' } };
        const outcome = await auth.verify(found.token, hs.ip);
        if (!outcome.ok) return denialRefusal(outcome.denial);
        hs.identity = outcome.identity;
        return undefined;
      },
    };
  }
  const plan = (found: EarlyToken | 'query_refused'): AdmissionPlan => ({
    transport: 'guard',
    before,
    after: [requiredToken(found)],
    pendingAuth: false,
  });

  const guarded = new WeakMap<object, Guarded>();
  const wsVetted = new WeakMap<IncomingMessage, { hs: HandshakeRequest; ticket: Ticket }>();
  const hooks = {
    onSlowConsumer: (conn: Connection) => audit.emit('slow_consumer', { ip: conn.ip, user: conn.userId }),
    onFrameOut: () => undefined,
  };

  function register(target: object, kind: Guarded['kind'], hs: HandshakeRequest, ticket: Ticket, out: Outbound): Guarded {
    const conn = new Connection(hs.ip, out, hub, config.limits.maxBufferedBytes, hooks);
    hub.opened(conn, hs.ip);
    ticket.opened(undefined);
    conn.ticket = ticket;
    conn.authenticate(hs.identity!);
    const g: Guarded = { conn, kind, queued: 0, chain: Promise.resolve() };
    guarded.set(target, g);
    return g;
  }

  const ws: Guard['ws'] = {
    options: {
      verifyClient(info, cb) {
        const hs = describeRequest(info.req, trusted);
        const socket = info.req.socket;
        void admission.admit(hs, plan(findEarlyToken(hs, config.auth.allowQueryToken))).then((result) => {
          if (!result.ok) return cb(false, rowOf(result.refusal.reason).status, undefined, refusalHeaders(result.refusal, false));
          // From here the slot follows the socket: ws refusing after all, the client leaving before
          // 101, the app never calling accept() or the connection closing all give it back.
          if (socket.destroyed) return result.ticket.release();
          socket.once('close', result.ticket.releaseOnClose);
          wsVetted.set(info.req, { hs, ticket: result.ticket });
          cb(true);
        });
      },
      // Never echo a `bulwark.bearer.<jwt>` entry: the token would come back in a response header.
      handleProtocols: (protocols) => [...protocols].find((p) => !p.startsWith(BEARER_PREFIX)) ?? false,
      maxPayload: config.limits.maxPayloadBytes,
      perMessageDeflate: false,
    },
    accept(socket, req) {
      const vetted = wsVetted.get(req);
      wsVetted.delete(req);
      if (!vetted) {
        socket.close(CLOSE.FORBIDDEN, 'not vetted');
        return false;
      }
      const g = register(socket, 'ws', vetted.hs, vetted.ticket, {
        send: (data) => socket.send(data),
        close: (code, reason) => {
          socket.close(code, reason);
          setTimeout(() => socket.terminate(), 2000).unref();
        },
        bufferedBytes: () => socket.bufferedAmount,
        pause: () => socket.pause(),
        resume: () => socket.resume(),
      });
      socket.on('close', () => {
        vetted.ticket.release();
        g.conn.released();
      });
      socket.on('error', (error: Error & { code?: string }) => {
        if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') audit.emit('frame_too_big', { ip: g.conn.ip, user: g.conn.userId });
      });
      return true;
    },
  };

  function socketio(): (socket: IoSocket, next: (err?: Error) => void) => void {
    return function bulwarkGuard(socket, next) {
      const hs = describeRequest(socket.request, trusted);
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      const found: EarlyToken = typeof token === 'string' && token.length > 0 && token.length <= 8192 ? { token, via: 'header' } : undefined;
      void admission.admit(hs, plan(found)).then((result) => {
        if (!result.ok) return next(connectError(result.refusal.message ?? result.refusal.reason, connectErrorData(result.refusal)));
        const ticket = result.ticket;
        // The engine.io session is the connection: its end gives the slot back, whatever ends it.
        socket.conn.once('close', ticket.releaseOnClose);
        if (socket.conn.readyState === 'closed') return ticket.release();
        const g = register(socket, 'socketio', hs, ticket, {
          send: (data) => {
            const frame = JSON.parse(data) as ServerFrame;
            socket.emit(frame.type, frame);
          },
          close: (code, reason) => {
            socket.emit('close', { code, reason });
            socket.disconnect(true);
          },
          bufferedBytes: () => pendingBytes(socket),
          pause: () => undefined,
          resume: () => undefined,
        });
        socket.data.user = g.conn.user;
        socket.on('disconnect', () => {
          if (socket.connected) return;
          ticket.release();
          g.conn.released();
        });
        next();
      });
    };
  }

  function guardsThen(ctx: FrameContext, run: () => Promise<Reply>): Promise<Reply> {
    return runFrameGuards(frameGuards, audit, ctx, () =>
      run().catch((error: unknown): Reply => {
        log.error({ err: error }, 'guard: handler failed');
        return { ok: false, code: 'INTERNAL' };
      }),
    );
  }

  function wrap<T>(target: WebSocket | IoSocket, handler: GuardHandler<T>, wrapOptions: WrapOptions<T> = {}): (...args: unknown[]) => void {
    const g = guarded.get(target);
    if (!g) throw new Error('bulwark/guard: wrap() needs a socket accepted by guard.ws.accept() or guard.socketio()');
    const { conn, kind } = g;
    const ctx: GuardContext = { user: conn.user, ip: conn.ip, close: (code, reason) => conn.close(code, reason) };

    const violation = (event: SecurityEventType, detail: Record<string, unknown>, closeCode: number, reason: string): void => {
      audit.emit(event, { ip: conn.ip, user: conn.userId, detail });
      conn.close(closeCode, reason);
    };

    /** One message, parsed (`parseFrame` of a ws text, `checkFrame` of a Socket.IO payload). */
    async function handle(parsed: ParseResult, respond: (frame: ServerFrame) => void): Promise<void> {
      const malformed = (code: ErrorCode, event: SecurityEventType, id: string | undefined, details?: ErrorDetail[], detail?: Record<string, unknown>): void => {
        audit.emit(event, { ip: conn.ip, user: conn.userId, detail });
        respond(errorFrame(code, id, { details }));
        if (++conn.malformed >= config.limits.maxMalformedFrames) {
          audit.emit('malformed_limit', { ip: conn.ip, user: conn.userId, detail: { count: conn.malformed } });
          conn.close(CLOSE.MALFORMED, 'too many malformed frames');
        }
      };
      if (!parsed.ok && parsed.reason !== 'too_complex') return malformed('BAD_REQUEST', 'malformed_frame', undefined);
      const raw = parsed.value;
      const id = replyId(raw);
      // Over the depth or width bounds: INVALID_PAYLOAD naming the field, with the frame's id, as on /ws.
      const problem = parsed.ok ? undefined : structureProblem(parsed);
      if (problem) return malformed('INVALID_PAYLOAD', 'invalid_payload', id, problem.details, { reason: problem.reason });
      let message: Record<string, unknown>;
      if (wrapOptions.schema) {
        const result = wrapOptions.schema.safeParse(raw);
        if (!result.success) {
          const details = result.error.issues.slice(0, 10).map((i) => ({ path: i.path.map(String).join('.') || '(frame)', message: i.message }));
          return malformed('INVALID_PAYLOAD', 'invalid_payload', id, details);
        }
        message = result.data as Record<string, unknown>;
      } else if (typeof raw['type'] === 'string' && isClientFrameType(raw['type'])) {
        const checked = validateFrame(raw);
        if (!checked.ok) return malformed('INVALID_PAYLOAD', 'invalid_payload', id, checked.unknownType ? undefined : checked.details);
        message = checked.frame as unknown as Record<string, unknown>;
      } else {
        message = raw;
      }
      const type = wrapOptions.type ?? (typeof message['type'] === 'string' ? message['type'] : 'message');
      if (
        (type === 'chat.send' && (typeof message['room'] !== 'string' || typeof message['text'] !== 'string')) ||
        (type === 'admin.broadcast' && typeof message['text'] !== 'string')
      ) {
        return malformed('INVALID_PAYLOAD', 'invalid_payload', id, [{ path: 'text', message: 'required string' }]);
      }
      // The guards see the message as the frame type it stands for; sanitization writes back to it.
      const frame = { ...message, type, id: id ?? message['id'] } as unknown as ClientFrame;
      const frameCtx: FrameContext = { conn, frame };
      const reply = await guardsThen(frameCtx, async () => {
        const out = await handler({ ...message, ...('text' in frame ? { text: frame.text } : {}) } as T, ctx);
        return { ok: true, body: out && typeof out === 'object' ? (out as Record<string, unknown>) : {} };
      }).catch((error: unknown): Reply => {
        log.error({ err: error }, 'guard: handler failed');
        return { ok: false, code: 'INTERNAL' };
      });
      if (reply.ok) {
        // A Socket.IO acknowledgement is per message and needs no id; a raw socket reply does.
        if (id !== undefined || kind === 'socketio') respond({ type: 'ack', ...reply.body, ...(id !== undefined ? { id } : {}) } as AckFrame);
        return;
      }
      respond(errorFrame(reply.code, id, { message: reply.message, details: reply.details, retryAfterMs: reply.retryAfterMs }));
    }

    function enqueue(parsed: ParseResult, respond: (frame: ServerFrame) => void): void {
      if (conn.closing) return;
      if (g!.queued >= INBOX_HIGH_WATER) {
        respond(errorFrame('RATE_LIMITED', undefined, { retryAfterMs: 1000 }));
        return;
      }
      g!.queued++;
      // One message of a connection at a time, in arrival order.
      g!.chain = g!.chain.then(() => handle(parsed, respond)).finally(() => g!.queued--);
    }

    if (kind === 'ws') {
      const socket = target as WebSocket;
      return (data: unknown, isBinary: unknown) => {
        if (isBinary) return violation('binary_frame', {}, CLOSE.UNSUPPORTED_DATA, 'binary frames are not accepted');
        const text = String(data);
        if (Buffer.byteLength(text) > config.limits.maxPayloadBytes) return violation('frame_too_big', {}, CLOSE.TOO_BIG, 'frame too big');
        enqueue(parseFrame(text), (frame) => {
          if (socket.readyState === socket.OPEN) conn.send(frame);
        });
      };
    }
    return (...args: unknown[]) => {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (frame: ServerFrame) => void) : undefined;
      const payloads = ack ? args.slice(0, -1) : args;
      if (payloads.some((p) => containsBinary(p))) return violation('binary_frame', {}, CLOSE.UNSUPPORTED_DATA, 'binary frames are not accepted');
      const value = payloads.length === 1 ? payloads[0] : undefined;
      if (JSON.stringify(value ?? null).length > config.limits.maxPayloadBytes) return violation('frame_too_big', {}, CLOSE.TOO_BIG, 'frame too big');
      enqueue(checkFrame(value), (frame) => (ack ? ack(frame) : frame.type === 'error' ? conn.send(frame) : undefined));
    };
  }

  const socketioOptions = {
    maxHttpBufferSize: config.limits.maxPayloadBytes + 1024,
    allowEIO3: false,
    transports: config.socketio.polling ? ['polling', 'websocket'] : ['websocket'],
    pingInterval: config.heartbeatMs,
    pingTimeout: config.heartbeatMs,
    connectTimeout: config.auth.timeoutMs,
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    cors: { origin: [...allowed], credentials: false },
  };

  return {
    config,
    events,
    onEvent: (listener) => void events.on('security', listener),
    bans,
    ws,
    socketioOptions,
    socketio,
    wrap,
    async close() {
      admission.stopAccepting();
      admission.close();
      hub.closeAll(CLOSE.GOING_AWAY, 'server going away');
      await store.flush();
      if (!options.store) await store.close();
      await bus.close();
    },
  };
}
