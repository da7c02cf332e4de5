/**
 * The Socket.IO transport (`/socket.io/`, contract section 4 "Socket.IO mapping"). Socket.IO never
 * attaches to the HTTP server: the server's upgrade and request hooks hand `/socket.io/` here, the
 * same handshake guards as `/ws` run first (minus the `bulwark.v1` subprotocol, which Socket.IO
 * clients cannot offer), and only a vetted request reaches engine.io. The token travels in the
 * CONNECT packet (`auth: { token }`) and is checked in `io.use`, so a refusal is a
 * `connect_error` with `data: { code, closeCode }`. After that each event is one contract frame,
 * handed to the same frame pipeline as raw WebSocket text; its reply goes to the event's
 * acknowledgement callback, every other server frame is emitted as an event named by its type,
 * and where `/ws` would close with a code the client gets `close {code, reason}`, then a disconnect.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server as Engine, type Socket as EngineSocket } from 'engine.io';
import { Server as IoServer, type Socket } from 'socket.io';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Identity } from '../auth/jwt.js';
import type { Denial, SessionAuth } from '../auth/session-auth.js';
import type { Config } from '../config/schema.js';
import type { HandshakeGuard, HandshakeRefusal, HandshakeRequest } from '../guards/handshake/types.js';
import { normalizeOrigin } from '../guards/handshake/origin.js';
import type { FramePipeline } from '../pipeline/frame-pipeline.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { SecurityAudit } from '../security/audit.js';
import { clientIp } from './client-ip.js';
import { Connection, type ConnectionHooks } from './connection.js';
import type { Hub } from '../fanout/hub.js';
import { securityHeaders } from './security-headers.js';

export const SOCKETIO_PATH = '/socket.io/';

/**
 * Room for the Socket.IO envelope (`42["chat.send",` ... `]`) around a frame: `limits.maxPayloadBytes`
 * bounds the frame itself, as on `/ws`, and engine.io drops anything past frame + envelope unread.
 */
export const ENVELOPE_BYTES = 1024;

export interface SocketIoTransportDeps {
  config: Config;
  hub: Hub;
  pipeline: FramePipeline;
  auth: SessionAuth;
  audit: SecurityAudit;
  metrics: Metrics;
  log: Logger;
  /** The `/ws` handshake guards without the subprotocol guard, in the same order. */
  guards: readonly HandshakeGuard[];
  /** Checked again on requests of an existing engine.io session (polling, upgrade from polling). */
  sessionGuards: readonly HandshakeGuard[];
  allowedOrigins(): ReadonlySet<string>;
  tls: boolean;
}

/** A handshake that passed the guards, until its Socket.IO session authenticates or ends. */
interface Vetted {
  readonly hs: HandshakeRequest;
  /** Stops counting this handshake against the caps (idempotent). */
  readonly release: () => void;
  /** engine.io opened a session for it. */
  session: boolean;
  /** One Socket.IO CONNECT per engine.io session: a refused client cannot retry on the same socket. */
  connected: boolean;
  identity?: Identity;
}

/** Thrown into `next()` of `io.use`: Socket.IO sends `message` and `data` as the `connect_error`. */
class ConnectRefusal extends Error {
  constructor(
    message: string,
    readonly data: { code: ErrorCode; closeCode: number },
  ) {
    super(message);
  }
}

function codeFor(close: number): ErrorCode {
  if (close === CLOSE.FORBIDDEN) return 'FORBIDDEN';
  if (close === CLOSE.TOO_MANY) return 'RATE_LIMITED';
  return 'UNAUTHENTICATED';
}

/** The `ws` socket under a Socket.IO socket, while its transport is WebSocket. */
function wsOf(socket: Socket): WebSocket | undefined {
  const transport = socket.conn.transport as unknown as { name: string; socket?: WebSocket };
  return transport.name === 'websocket' ? transport.socket : undefined;
}

/** Bytes the client has not read yet: engine.io's write buffer plus what ws still holds. */
export function pendingBytes(socket: Socket): number {
  let n = 0;
  for (const packet of (socket.conn as unknown as { writeBuffer: Array<{ data?: unknown }> }).writeBuffer) {
    const data = packet.data;
    if (typeof data === 'string') n += data.length;
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) n += data.byteLength;
  }
  return n + (wsOf(socket)?.bufferedAmount ?? 0);
}

/** `<type>[/nsp,][ackId]["event",` — what precedes the frame object in a Socket.IO EVENT packet. */
const EVENT_PREFIX = /^2(?:\/[^,]*,)?\d*\["(?:[^"\\]|\\.)*",/;

/** The size of the frame object inside a Socket.IO packet, as `/ws` would have counted it. */
function frameBytes(data: string): number {
  const bytes = Buffer.byteLength(data);
  const prefix = EVENT_PREFIX.exec(data.length > 200 ? data.slice(0, 200) : data);
  return prefix ? bytes - Buffer.byteLength(prefix[0]) - 1 : bytes;
}

/** A `ws` server class for engine.io that closes a message in more than `maxFragments` fragments with 1008. */
function fragmentLimited(maxFragments: number): new (options: ServerOptions) => WebSocketServer {
  return class FragmentLimitedServer extends WebSocketServer {
    constructor(options: ServerOptions) {
      super({ ...options, maxFragments });
    }
  };
}

/** Module-level so the long-lived listener does not keep the upgrade request's context alive. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

export class SocketIoTransport {
  readonly io: IoServer;
  private readonly engine: Engine;
  private readonly trusted: ReadonlySet<string>;
  private readonly hooks: ConnectionHooks;
  private readonly vetted = new WeakMap<IncomingMessage, Vetted>();
  private readonly sockets = new Map<Socket, Connection>();
  private readonly byEngine = new WeakMap<EngineSocket, Connection>();
  private inFlight = 0;
  private readonly inFlightPerIp = new Map<string, number>();
  private accepting = true;

  constructor(private readonly deps: SocketIoTransportDeps) {
    const { config } = deps;
    this.trusted = new Set(config.trustProxy);
    const allowed = (origin: string | undefined): boolean => {
      const canonical = origin === undefined ? undefined : normalizeOrigin(origin);
      return canonical !== undefined && deps.allowedOrigins().has(canonical);
    };
    this.engine = new Engine({
      transports: config.socketio.polling ? ['polling', 'websocket'] : ['websocket'],
      allowUpgrades: config.socketio.polling,
      allowEIO3: false,
      maxHttpBufferSize: config.limits.maxPayloadBytes + ENVELOPE_BYTES,
      // engine.io builds its ws server with ws's own fragment default (16,384): hold it to ours (1008).
      wsEngine: fragmentLimited(config.limits.maxFragments),
      pingInterval: config.heartbeatMs,
      pingTimeout: config.heartbeatMs,
      upgradeTimeout: Math.min(10_000, config.auth.timeoutMs),
      perMessageDeflate: config.compression.enabled ? { threshold: 1024, concurrencyLimit: 4, serverMaxWindowBits: 12 } : false,
      httpCompression: false,
      cookie: false,
      // Defence in depth: only requests this transport vetted reach a session, whatever calls the engine.
      allowRequest: (req, fn) => fn(null, this.vetted.has(req)),
      // Never `*`: a cross-site page must not read polling responses.
      cors: { origin: (origin, cb) => cb(null, origin !== undefined && allowed(origin)), credentials: false },
    });
    const headers = securityHeaders(deps.tls);
    this.engine.on('initial_headers', (h: Record<string, string>) => Object.assign(h, headers));
    this.engine.on('headers', (h: Record<string, string>) => Object.assign(h, headers));
    this.engine.on('connection', (esock: EngineSocket) => this.engineOpened(esock));
    this.engine.on('connection_error', (err: { req: IncomingMessage }) => this.vetted.get(err.req)?.release());

    this.io = new IoServer({ serveClient: false, connectTimeout: config.auth.timeoutMs, cleanupEmptyChildNamespaces: true });
    this.io.bind(this.engine);
    this.io.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (error: unknown) => {
          if (!(error instanceof ConnectRefusal)) deps.log.error({ err: error }, 'socket.io authentication failed unexpectedly');
          next(error instanceof ConnectRefusal ? error : new ConnectRefusal('Internal error.', { code: 'INTERNAL', closeCode: CLOSE.INTERNAL }));
          // The CONNECT_ERROR goes out first; the engine.io session ends with it.
          setImmediate(() => socket.conn.close());
        },
      );
    });
    this.io.on('connection', (socket) => this.open(socket));
    this.hooks = {
      onSlowConsumer: (conn) => deps.audit.emit('slow_consumer', { ip: conn.ip, user: conn.userId }),
      onFrameOut: (type) => deps.metrics.frameOut(type),
    };
  }

  /** Handshakes in flight or sessions not yet authenticated, for the capacity guard. */
  pending(): number {
    return this.inFlight;
  }

  pendingFrom(ip: string): number {
    return this.inFlightPerIp.get(ip) ?? 0;
  }

  private hold(ip: string): () => void {
    this.count(ip, 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.count(ip, -1);
    };
  }

  private count(ip: string, delta: number): void {
    this.inFlight += delta;
    const n = (this.inFlightPerIp.get(ip) ?? 0) + delta;
    if (n <= 0) this.inFlightPerIp.delete(ip);
    else this.inFlightPerIp.set(ip, n);
  }

  private request(req: IncomingMessage): HandshakeRequest {
    let headerBytes = 0;
    for (const h of req.rawHeaders) headerBytes += h.length + 2;
    return {
      ip: clientIp(req, this.trusted),
      origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
      headers: req.headers,
      headerCount: req.rawHeaders.length / 2,
      headerBytes,
      url: new URL(req.url ?? '/', 'http://localhost'),
      protocols: [],
    };
  }

  /** WebSocket upgrade on `/socket.io/`: the guards, then engine.io. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError);
    this.vet(req, (refusal, hs) => {
      if (refusal) return this.refuseUpgrade(socket, refusal, hs);
      if (socket.destroyed) return this.vetted.get(req)?.release();
      socket.once('close', () => this.vetted.get(req)?.release());
      this.engine.handleUpgrade(req, socket, head);
    });
  }

  /** HTTP long-polling on `/socket.io/`: refused (400) unless `socketio.polling`. */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.deps.config.socketio.polling) {
      const hs = this.request(req);
      this.deps.audit.emit('subprotocol_refused', { ip: hs.ip, detail: { status: 400, transport: 'polling' } });
      this.deps.metrics.handshakeRefusals.inc({ reason: 'polling' });
      return this.refuseHttp(res, { status: 400, event: 'subprotocol_refused', reason: 'polling' });
    }
    this.vet(req, (refusal, hs) => {
      if (refusal) return this.refuseHttp(res, refusal, hs);
      res.once('close', () => {
        const vetted = this.vetted.get(req);
        if (vetted && !vetted.session) vetted.release();
      });
      this.engine.handleRequest(req, res);
    });
  }

  /**
   * Runs the guards. A new session gets the full list and counts against the caps until it
   * authenticates; a request of an existing session (`sid`) re-checks origin and bans only.
   */
  private vet(req: IncomingMessage, done: (refusal: HandshakeRefusal | undefined, hs: HandshakeRequest) => void): void {
    const hs = this.request(req);
    if (!this.accepting) return done({ status: 503, event: 'capacity_refused', reason: 'shutdown', retryAfterMs: 5000 }, hs);
    const existing = hs.url.searchParams.has('sid');
    let release = (): void => undefined;
    // The handshake counts against the caps from the moment it passes the capacity check (in the
    // same tick, so a burst cannot overshoot), not before: N slots admit N connections.
    const passed = (guard: HandshakeGuard): void => {
      if (guard.name === 'capacity') release = this.hold(hs.ip);
    };
    void this.runGuards(existing ? this.deps.sessionGuards : this.deps.guards, hs, passed).then(
      (refusal) => {
        if (refusal) {
          release();
          return done(refusal, hs);
        }
        if (!existing) this.vetted.set(req, { hs, release, session: false, connected: false });
        else this.vetted.set(req, { hs, release, session: true, connected: true });
        done(undefined, hs);
      },
      (error: unknown) => {
        release();
        this.deps.log.error({ err: error }, 'handshake guard failed');
        done({ status: 503, event: 'capacity_refused', reason: 'guard_error', retryAfterMs: 5000 }, hs);
      },
    );
  }

  private async runGuards(guards: readonly HandshakeGuard[], req: HandshakeRequest, passed: (guard: HandshakeGuard) => void): Promise<HandshakeRefusal | undefined> {
    for (const guard of guards) {
      let verdict = guard.check(req);
      if (verdict instanceof Promise) verdict = await verdict;
      if (verdict) return verdict;
      passed(guard);
    }
    return undefined;
  }

  private record(refusal: HandshakeRefusal, hs: HandshakeRequest | undefined): void {
    this.deps.metrics.handshakeRefusals.inc({ reason: refusal.reason });
    this.deps.audit.emit(refusal.event, { ip: hs?.ip, detail: { status: refusal.status, transport: 'socket.io', ...refusal.detail } });
  }

  private refuseUpgrade(socket: Duplex, refusal: HandshakeRefusal, hs: HandshakeRequest): void {
    this.record(refusal, hs);
    if (socket.destroyed) return;
    const text = STATUS_CODES[refusal.status] ?? 'Error';
    const lines = [`HTTP/1.1 ${refusal.status} ${text}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(text)}`];
    if (refusal.retryAfterMs !== undefined) lines.push(`Retry-After: ${Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))}`);
    for (const [k, v] of Object.entries(securityHeaders(this.deps.tls))) lines.push(`${k}: ${v}`);
    socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private refuseHttp(res: ServerResponse, refusal: HandshakeRefusal, hs?: HandshakeRequest): void {
    if (hs) this.record(refusal, hs);
    const body = JSON.stringify({ error: refusal.status === 503 ? 'UNAVAILABLE' : 'BAD_REQUEST', message: STATUS_CODES[refusal.status] ?? 'Error' });
    const headers: Record<string, string | number> = {
      ...securityHeaders(this.deps.tls),
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    };
    if (refusal.retryAfterMs !== undefined) headers['Retry-After'] = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
    res.writeHead(refusal.status, headers);
    res.end(body);
  }

  /** An engine.io session opened: it counts against the caps until authenticated or closed. */
  private engineOpened(esock: EngineSocket): void {
    const vetted = this.vetted.get(esock.request);
    if (!vetted) return esock.close();
    vetted.session = true;
    esock.once('close', vetted.release);
    // Binary attachments (contract: binary frame -> 1003) and frames over the limit (1009) are
    // refused here, before socket.io decodes or buffers them.
    esock.on('packet', (packet: { type: string; data?: unknown }) => {
      if (packet.type !== 'message') return;
      const conn = this.byEngine.get(esock);
      const data = packet.data;
      if (typeof data !== 'string' || data.startsWith('5') || data.startsWith('6')) {
        this.deps.audit.emit('binary_frame', { ip: vetted.hs.ip, user: conn?.userId, detail: { transport: 'socket.io' } });
        if (conn) conn.close(CLOSE.UNSUPPORTED_DATA, 'binary frames are not accepted');
        else esock.close();
        return;
      }
      const max = this.deps.config.limits.maxPayloadBytes;
      // A UTF-8 character is at most 3 bytes per UTF-16 unit: short strings need no counting.
      if (data.length * 3 > max && frameBytes(data) > max) {
        this.deps.audit.emit('frame_too_big', { ip: vetted.hs.ip, user: conn?.userId, detail: { transport: 'socket.io' } });
        if (conn) conn.close(CLOSE.TOO_BIG, 'frame too big');
        else esock.close();
      }
    });
  }

  /** `io.use`: the token from `auth.token` (or an early `Authorization` header), then admission. */
  private async authenticate(socket: Socket): Promise<void> {
    const vetted = this.vetted.get(socket.request);
    if (!vetted) throw new ConnectRefusal('Forbidden.', { code: 'FORBIDDEN', closeCode: CLOSE.FORBIDDEN });
    const { audit, auth } = this.deps;
    const ip = vetted.hs.ip;
    if (vetted.connected) {
      audit.emit('auth_failed', { ip, detail: { reason: 'second_connect', transport: 'socket.io' } });
      throw new ConnectRefusal('One session per connection.', { code: 'BAD_REQUEST', closeCode: CLOSE.UNAUTHENTICATED });
    }
    vetted.connected = true;
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    let identity: Identity;
    let denial: Denial | undefined;
    if (typeof token === 'string' && token.length > 0 && token.length <= 8192) {
      const outcome = await auth.verify(token, ip);
      if (outcome.ok) identity = outcome.identity;
      else denial = outcome.denial;
    } else if (token === undefined && vetted.hs.identity) {
      identity = vetted.hs.identity;
      denial = await auth.admission(identity, ip);
    } else {
      denial = { close: CLOSE.UNAUTHENTICATED, reason: 'authentication required', event: 'auth_failed', detail: { reason: token === undefined ? 'missing_token' : 'malformed' } };
    }
    if (denial) {
      audit.emit(denial.event, { ip, detail: { ...denial.detail, transport: 'socket.io' } });
      throw new ConnectRefusal(denial.reason, { code: codeFor(denial.close), closeCode: denial.close });
    }
    vetted.identity = identity!;
  }

  private open(socket: Socket): void {
    const { config, hub, auth, audit, metrics } = this.deps;
    const vetted = this.vetted.get(socket.request)!;
    const conn = new Connection(
      vetted.hs.ip,
      {
        // Server frames arrive serialized once for all peers; Socket.IO needs the object back.
        send: (data) => {
          const frame = JSON.parse(data) as ServerFrame;
          socket.emit(frame.type, frame);
        },
        close: (code, reason) => {
          socket.emit('close', { code, reason });
          socket.disconnect(true);
          // A reader that stopped reading never lets the close packet drain.
          setTimeout(() => wsOf(socket)?.terminate(), 2000).unref();
        },
        bufferedBytes: () => pendingBytes(socket),
        pause: () => wsOf(socket)?.pause(),
        resume: () => wsOf(socket)?.resume(),
      },
      hub,
      config.limits.maxBufferedBytes,
      this.hooks,
    );
    this.sockets.set(socket, conn);
    this.byEngine.set(socket.conn, conn);
    hub.opened(conn, conn.ip);
    vetted.release();
    metrics.openConnections.inc();

    socket.onAny((...args: unknown[]) => this.event(socket, conn, args));
    socket.on('disconnect', (reason: string) => {
      // A client can emit an event named `disconnect`; only the real one has the socket down.
      if (socket.connected || !this.sockets.has(socket)) return;
      this.sockets.delete(socket);
      if (reason === 'ping timeout') audit.emit('heartbeat_timeout', { ip: conn.ip, user: conn.userId, detail: { transport: 'socket.io' } });
      metrics.openConnections.dec();
      conn.released();
      // One Socket.IO session per engine.io connection.
      socket.conn.close();
    });
    auth.admit(conn, vetted.identity!);
  }

  /** One event: `[name, frame, ack?]`. */
  private event(socket: Socket, conn: Connection, args: unknown[]): void {
    if (conn.closing) return;
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as (frame: ServerFrame) => void) : undefined;
    const payloads = ack ? args.length - 2 : args.length - 1;
    const respond = ack
      ? (frame: ServerFrame): void => {
          if (conn.closing || !socket.connected) return;
          this.hooks.onFrameOut(frame.type);
          ack(frame);
        }
      : undefined;
    const type = String(args[0]);
    // Exactly one payload: anything else is not a contract frame (BAD_REQUEST, counted as malformed).
    this.deps.pipeline.handleValue(conn, { value: payloads === 1 ? args[1] : undefined, type, respond });
  }

  /** Stops accepting handshakes (shutdown). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Resolves when every socket has closed, or after the timeout. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  close(): void {
    this.engine.close();
  }
}
