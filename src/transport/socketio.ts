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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server as Engine, type Socket as EngineSocket } from 'engine.io';
import { Server as IoServer, type Socket } from 'socket.io';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Identity } from '../auth/jwt.js';
import type { Denial, SessionAuth } from '../auth/session-auth.js';
import type { Config } from '../config/schema.js';
import type { Admission, AdmissionPlan } from '../admission/admission.js';
import { writeHttpRefusal, type HandshakeRefusal } from '../admission/refusal.js';
import { describeRequest } from '../admission/request.js';
import type { Ticket } from '../admission/ticket.js';
import { handleSessionUpgrade, handleUpgrade, type UpgradeOptions } from '../admission/upgrade.js';
import type { HandshakeGuard, HandshakeRequest } from '../guards/handshake/types.js';
import { normalizeOrigin } from '../guards/handshake/origin.js';
import type { FramePipeline } from '../pipeline/frame-pipeline.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { SecurityAudit } from '../security/audit.js';
import { Connection, type ConnectionHooks } from './connection.js';
import { answerPings } from './ping-flood.js';
import type { Hub, Peer } from '../fanout/hub.js';
import { securityHeaders } from './security-headers.js';
import { TurnWriter } from '../fanout/turn-writer.js';
import { EventPackets, socketIoAck, socketIoSend } from './socketio-outbound.js';

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
  admission: Admission;
  /** The `/ws` handshake guards without the subprotocol guard, in the same order. */
  guards: { before: readonly HandshakeGuard[]; after: readonly HandshakeGuard[] };
  /** Checked again on requests of an existing engine.io session (polling, upgrade from polling). */
  sessionGuards: readonly HandshakeGuard[];
  allowedOrigins(): ReadonlySet<string>;
  tls: boolean;
}

/** A handshake that passed admission, for the life of its engine.io session. */
interface Vetted {
  readonly hs: HandshakeRequest;
  /** Its hold on the admission budgets; released when the session ends (idempotent). */
  readonly ticket: Ticket | undefined;
  /** engine.io opened a session for it. */
  session: boolean;
  /** One Socket.IO CONNECT per engine.io session: a refused client cannot retry on the same socket. */
  connected: boolean;
  identity?: Identity;
  /** The session in the hub until its CONNECT authenticates (an IP ban closes it too). */
  pendingPeer?: Peer;
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

/** A CONNECT_ERROR packet for the main namespace, written before the client's CONNECT was handled. */
function connectErrorPacket(message: string, data: { code: ErrorCode; closeCode: number }): string {
  return `4${JSON.stringify({ message, data })}`;
}

function codeFor(close: number): ErrorCode {
  if (close === CLOSE.FORBIDDEN) return 'FORBIDDEN';
  if (close === CLOSE.TOO_MANY) return 'RATE_LIMITED';
  return 'UNAUTHENTICATED';
}

/** Numbers the hub ids of sessions before CONNECT (engine.io keeps its own id private). */
let pendingSessions = 0;

/** An engine.io session without a Socket.IO connection yet: nothing to deliver, only a close. */
function pendingSessionPeer(connectionId: string, evict: (code: number, reason: string) => void, goAway: () => void): Peer {
  return {
    connectionId,
    userId: undefined,
    isAdmin: false,
    jti: undefined,
    deliver() {},
    dropRoom() {},
    close(code, reason) {
      // Shutdown closes engine.io sessions as before; anything else says why in a connect_error.
      if (code === CLOSE.GOING_AWAY) goAway();
      else evict(code, reason);
    },
  };
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

/**
 * A `ws` server class for engine.io that holds its sockets to /ws's limits: a message in more than
 * `maxFragments` fragments closes 1008, and pings are answered within `maxPendingPongs`, a flood
 * being handed to `onPingFlood` with the upgrade request engine.io was given.
 */
function limitedWsServer(
  limits: { maxFragments: number; maxPendingPongs: number },
  onPingFlood: (ws: WebSocket, req: IncomingMessage, pending: number) => void,
): new (options: ServerOptions) => WebSocketServer {
  return class LimitedWsServer extends WebSocketServer {
    constructor(options: ServerOptions) {
      super({ ...options, maxFragments: limits.maxFragments, autoPong: false });
    }

    override handleUpgrade(...[request, socket, head, callback]: Parameters<WebSocketServer['handleUpgrade']>): void {
      super.handleUpgrade(request, socket, head, (ws, req) => {
        answerPings(ws, { max: limits.maxPendingPongs, onFlood: (_, pending) => onPingFlood(ws, req, pending) });
        callback(ws, req);
      });
    }
  };
}

export class SocketIoTransport {
  readonly io: IoServer;
  private readonly engine: Engine;
  private readonly trusted: ReadonlySet<string>;
  private readonly hooks: ConnectionHooks;
  private readonly vetted = new WeakMap<IncomingMessage, Vetted>();
  private readonly sockets = new Map<Socket, Connection>();
  private readonly byEngine = new WeakMap<EngineSocket, Connection>();
  /** By the handshake request of its engine.io session (the WebSocket upgrade, unless it began polling). */
  private readonly byRequest = new WeakMap<IncomingMessage, Connection>();
  private readonly upgrade: UpgradeOptions;
  private readonly plan: AdmissionPlan;
  /** Frames written to sockets directly, corked per turn, like /ws (see socketio-outbound.ts). */
  private readonly writer = new TurnWriter();
  private readonly packets = new EventPackets();

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
      wsEngine: limitedWsServer(config.limits, (ws, req, pending) => this.pingFlood(ws, req, pending)),
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
    // engine.io refused a vetted request (bad transport, unknown sid...): its places come back.
    this.engine.on('connection_error', (err: { req: IncomingMessage }) => this.vetted.get(err.req)?.ticket?.release());

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
      transport: 'socket.io',
      onSlowConsumer: (conn) => deps.audit.emit('slow_consumer', { ip: conn.ip, user: conn.userId }),
      onFrameOut: (type) => deps.metrics.frameOut(type),
    };
    this.upgrade = { admission: deps.admission, trusted: this.trusted, tls: deps.tls, timeoutMs: config.limits.upgradeTimeoutMs };
    this.plan = { transport: 'socket.io', before: deps.guards.before, after: deps.guards.after };
  }

  /** WebSocket upgrade on `/socket.io/`: admission, then engine.io. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (new URL(req.url ?? '/', 'http://localhost').searchParams.has('sid')) {
      // Upgrade of an existing (polling) session: it holds its places already; origin and bans again.
      return handleSessionUpgrade(this.upgrade, req, socket, this.deps.sessionGuards, 'socket.io', (hs) => {
        this.vetted.set(req, { hs, ticket: undefined, session: true, connected: true });
        this.engine.handleUpgrade(req, socket, head);
      });
    }
    handleUpgrade(this.upgrade, req, socket, this.plan, (hs, ticket) => {
      this.vetted.set(req, { hs, ticket, session: false, connected: false });
      // engine.io refusing it destroys the socket: admission tied the slot to the socket's close.
      this.engine.handleUpgrade(req, socket, head);
    });
  }

  /**
   * HTTP long-polling on `/socket.io/`: refused (400) unless `socketio.polling`. The refusal spends
   * the handshake rate first, so a flood of polls is answered 429 rather than recorded one by one.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const hs = describeRequest(req, this.trusted);
    const { admission, config, tls } = this.deps;
    if (!config.socketio.polling) {
      const refusal: HandshakeRefusal = { reason: 'polling', event: 'subprotocol_refused', detail: { transport: 'polling' } };
      void admission.refuseAnonymous(hs, refusal, 'socket.io').then((final) => writeHttpRefusal(res, final, tls));
      return;
    }
    if (hs.url.searchParams.has('sid')) {
      void admission.vet(hs, this.deps.sessionGuards, 'socket.io').then((refusal) => {
        if (refusal) return writeHttpRefusal(res, refusal, tls);
        this.vetted.set(req, { hs, ticket: undefined, session: true, connected: true });
        this.engine.handleRequest(req, res);
      });
      return;
    }
    void admission.admit(hs, this.plan).then((result) => {
      if (!result.ok) return writeHttpRefusal(res, result.refusal, tls);
      const vetted: Vetted = { hs, ticket: result.ticket, session: false, connected: false };
      if (res.destroyed) return result.ticket.release();
      this.vetted.set(req, vetted);
      // No session came of it (engine.io refused, the client left): the places come back.
      res.once('close', () => {
        if (!vetted.session) result.ticket.release();
      });
      this.engine.handleRequest(req, res);
    });
  }

  /** An engine.io session opened: pending-auth until its CONNECT authenticates, counted until it closes. */
  private engineOpened(esock: EngineSocket): void {
    const vetted = this.vetted.get(esock.request);
    if (!vetted) return esock.close();
    vetted.session = true;
    const ticket = vetted.ticket;
    if (ticket) {
      esock.once('close', ticket.releaseOnClose);
      // Shedding, the auth timeout or a ban before CONNECT succeeded: the client sees connect_error
      // with the close code (4408; a ban's 4403 or 4429 and `banned until …`).
      const evict = (code: number, reason: string): void => {
        esock.write(connectErrorPacket(reason, { code: codeFor(code), closeCode: code }));
        esock.close();
      };
      ticket.opened(evict);
      // Registered like a /ws connection that has not authenticated, so that the hub's closes
      // (an IP ban on any node, shutdown) reach it; the Connection takes its place at CONNECT.
      const peer = pendingSessionPeer(`sio-pending-${++pendingSessions}`, evict, () => esock.close());
      vetted.pendingPeer = peer;
      this.deps.hub.opened(peer, ticket.ip);
      esock.once('close', () => this.deps.hub.closed(peer, ticket.ip, []));
      const timer = setTimeout(() => {
        if (ticket.state !== 'pending') return;
        this.deps.audit.emit('auth_timeout', { ip: ticket.ip, detail: { transport: 'socket.io' } });
        // A polling session closes only when its client polls again (or engine.io's own close
        // timeout): its places come back now, and the closing session accepts no packet.
        ticket.release();
        evict(CLOSE.AUTH_TIMEOUT, 'authentication timeout');
      }, this.deps.admission.authTimeoutMs());
      timer.unref();
      esock.once('close', () => clearTimeout(timer));
    }
    // This packet was refused here, with its own event (binary, too big).
    let refused = false;
    const malformed = (reason: string): void => {
      this.deps.audit.emit('malformed_frame', { ip: vetted.hs.ip, user: this.byEngine.get(esock)?.userId, detail: { reason, transport: 'socket.io' } });
    };
    // Binary attachments (contract: binary frame -> 1003) and frames over the limit (1009) are
    // refused here, before socket.io decodes or buffers them.
    esock.on('packet', (packet: { type: string; data?: unknown }) => {
      refused = false;
      // engine.io ends the session itself on an undecodable packet and on a client ping (EIO 4
      // pings go from the server): a malformed frame, as on /ws (docs/protocol.md "Socket.IO mapping").
      if (packet.type === 'error') return malformed('engine.io_packet');
      if (packet.type === 'ping') return malformed('engine.io_ping');
      // The client's engine.io CLOSE: engine.io's WebSocket transport ignores it, so the session ends here.
      if (packet.type === 'close') return esock.close(true);
      if (packet.type !== 'message') return;
      const conn = this.byEngine.get(esock);
      const data = packet.data;
      if (typeof data !== 'string' || data.startsWith('5') || data.startsWith('6')) {
        refused = true;
        this.deps.audit.emit('binary_frame', { ip: vetted.hs.ip, user: conn?.userId, detail: { transport: 'socket.io' } });
        if (conn) conn.close(CLOSE.UNSUPPORTED_DATA, 'binary frames are not accepted');
        else esock.close();
        return;
      }
      const max = this.deps.config.limits.maxPayloadBytes;
      // A UTF-8 character is at most 3 bytes per UTF-16 unit: short strings need no counting.
      if (data.length * 3 > max && frameBytes(data) > max) {
        refused = true;
        this.deps.audit.emit('frame_too_big', { ip: vetted.hs.ip, user: conn?.userId, detail: { transport: 'socket.io' } });
        if (conn) conn.close(CLOSE.TOO_BIG, 'frame too big');
        else esock.close();
      }
    });
    // Socket.IO decodes a message synchronously, between this session's `packet` and `message`
    // events, and ends the session at once when it cannot (bad JSON, an unknown packet type, an
    // attachment count that does not add up, a packet out of place): a malformed frame.
    esock.on('message', () => {
      if (!refused && esock.readyState !== 'open') malformed('socket.io_packet');
    });
  }

  /** A ping flood on a session's WebSocket: `close {1008}` and a disconnect, or before CONNECT a 1008 close. */
  private pingFlood(ws: WebSocket, req: IncomingMessage, pending: number): void {
    const conn = this.byRequest.get(req);
    this.deps.audit.emit('ping_flood', { ip: this.vetted.get(req)?.hs.ip ?? conn?.ip, user: conn?.userId, detail: { pending, transport: 'socket.io' } });
    if (conn) return conn.close(CLOSE.POLICY, 'ping flood');
    ws.close(CLOSE.POLICY, 'ping flood');
    setTimeout(() => ws.terminate(), 2000).unref();
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
      // A ban says until when in the message: `banned until <ISO time>`.
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
        // Server frames arrive serialized once for all peers: each becomes its event packet once.
        send: socketIoSend(socket, this.writer, this.packets),
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
    this.byRequest.set(socket.request, conn);
    // Replies go out like events (socketio-outbound.ts), not through Socket.IO's encoder.
    if (socket.nsp.name === '/') (socket as unknown as { ack: (id: number) => (frame: ServerFrame) => void }).ack = (id) => socketIoAck(socket, this.writer, id);
    if (vetted.pendingPeer) hub.closed(vetted.pendingPeer, conn.ip, []);
    hub.opened(conn, conn.ip);
    if (vetted.ticket) conn.ticket = vetted.ticket;
    metrics.open.inc();

    socket.onAny((...args: unknown[]) => this.event(socket, conn, args));
    socket.on('disconnect', (reason: string) => {
      // A client can emit an event named `disconnect`; only the real one has the socket down.
      if (socket.connected || !this.sockets.has(socket)) return;
      this.sockets.delete(socket);
      if (reason === 'ping timeout') audit.emit('heartbeat_timeout', { ip: conn.ip, user: conn.userId, detail: { transport: 'socket.io' } });
      metrics.open.dec();
      conn.released();
      vetted.ticket?.release();
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

  /** Resolves when every socket has closed, or after the timeout. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  close(): void {
    this.engine.close();
  }
}
