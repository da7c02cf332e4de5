/**
 * The raw WebSocket transport (`GET /ws`): admission (`src/admission/`) vets the HTTP upgrade
 * request before anything is accepted, then each text frame goes to the pipeline. Binary
 * frames close 1003; frames over `limits.maxPayloadBytes` close 1009 (ws enforces it while
 * reading, after inflation when compression is on); the heartbeat terminates dead peers.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Admission, AdmissionPlan } from '../admission/admission.js';
import type { Ticket } from '../admission/ticket.js';
import { handleUpgrade, type UpgradeOptions } from '../admission/upgrade.js';
import type { SessionAuth } from '../auth/session-auth.js';
import type { Config } from '../config/schema.js';
import type { FramePipeline } from '../pipeline/frame-pipeline.js';
import type { HandshakeGuard, HandshakeRequest } from '../guards/handshake/types.js';
import { SUBPROTOCOL } from '../guards/handshake/subprotocol.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { SecurityAudit } from '../security/audit.js';
import { Connection, type ConnectionHooks, type Outbound } from './connection.js';
import { answerPings, type PingPolicy } from './ping-flood.js';
import type { Hub } from '../fanout/hub.js';
import { TurnWriter } from '../fanout/turn-writer.js';
import type { Socket } from 'node:net';

export interface WsTransportDeps {
  config: Config;
  hub: Hub;
  pipeline: FramePipeline;
  auth: SessionAuth;
  audit: SecurityAudit;
  metrics: Metrics;
  log: Logger;
  admission: Admission;
  /** Guards before the connection slot (headers, origin, IP ban, rate) and holding it (subprotocol, token, user ban). */
  guards: { before: readonly HandshakeGuard[]; after: readonly HandshakeGuard[] };
  tls: boolean;
}

const alive = new WeakSet<WebSocket>();

/** ws keeps its socket private; the turn writer writes pre-framed buffers to it directly. */
function rawSocket(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

function terminate(ws: WebSocket): void {
  ws.terminate();
}

/**
 * The raw-WebSocket side of one connection. Methods on a prototype rather than five closures per
 * connection: an idle connection's memory is mostly what it holds for its whole life.
 */
class WsOutbound implements Outbound {
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    /** Undefined with compression negotiated: ws frames (and may queue) itself; otherwise frame once, write corked. */
    private readonly writer: TurnWriter | undefined,
  ) {}

  send(data: string): void {
    if (this.writer === undefined) this.ws.send(data);
    else if (this.ws.readyState === this.ws.OPEN) this.writer.write(this.socket, data);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
    // A reader that stopped reading never completes the closing handshake.
    setTimeout(terminate, 2000, this.ws).unref();
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}

export class WsTransport {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Map<WebSocket, Connection>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly hooks: ConnectionHooks;
  private readonly writer = new TurnWriter();
  private readonly upgrade: UpgradeOptions;
  private readonly plan: AdmissionPlan;
  /** Shared by every socket of the transport (ping-flood.ts). */
  private readonly pings: PingPolicy;
  /** The auth timeout's callback, one for every connection. */
  private readonly authTimedOut: (conn: Connection) => void;

  constructor(private readonly deps: WsTransportDeps) {
    const { config } = deps;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.limits.maxPayloadBytes,
      maxFragments: config.limits.maxFragments,
      // Pongs are written by answerPings, within limits.maxPendingPongs (ws would terminate silently past 60).
      autoPong: false,
      perMessageDeflate: config.compression.enabled
        ? { threshold: 1024, concurrencyLimit: 4, serverMaxWindowBits: 12, clientNoContextTakeover: true, serverNoContextTakeover: true }
        : false,
      // Always select bulwark.v1; a `bulwark.bearer.<jwt>` entry is never echoed back.
      handleProtocols: () => SUBPROTOCOL,
    });
    this.hooks = {
      onSlowConsumer: (conn) => deps.audit.emit('slow_consumer', { ip: conn.ip, user: conn.userId }),
      onFrameOut: (type) => deps.metrics.frameOut(type),
    };
    this.upgrade = { admission: deps.admission, trusted: new Set(config.trustProxy), tls: deps.tls, timeoutMs: config.limits.upgradeTimeoutMs };
    this.plan = { transport: 'ws', before: deps.guards.before, after: deps.guards.after };
    this.pings = {
      max: config.limits.maxPendingPongs,
      onFlood: (ws, pending) => {
        const conn = this.sockets.get(ws);
        if (!conn) return;
        deps.audit.emit('ping_flood', { ip: conn.ip, user: conn.userId, detail: { pending } });
        conn.close(CLOSE.POLICY, 'ping flood');
      },
    };
    this.authTimedOut = (conn) => {
      if (conn.authenticated) return;
      deps.audit.emit('auth_timeout', { ip: conn.ip });
      conn.close(CLOSE.AUTH_TIMEOUT, 'authentication timeout');
    };
    this.heartbeat = setInterval(() => this.beat(), config.heartbeatMs);
    this.heartbeat.unref();
  }

  private beat(): void {
    for (const [ws, conn] of this.sockets) {
      if (!alive.has(ws)) {
        this.deps.audit.emit('heartbeat_timeout', { ip: conn.ip, user: conn.userId });
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }

  /** `GET /ws` with `Upgrade: websocket`: admission, then `ws` writes 101. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    handleUpgrade(this.upgrade, req, socket, this.plan, (hs, ticket) => {
      // If ws refuses after all, or the socket dies first, the callback never runs: the socket's
      // close gives the slot back (admission tied it to the socket).
      this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, hs, ticket));
    });
  }

  /**
   * The socket listeners, one set per transport: each finds its connection by the socket it is
   * called on (`this`), so a connection holds no closures of its own.
   */
  private readonly listeners = ((transport: WsTransport) => ({
    pong(this: WebSocket): void {
      alive.add(this);
    },
    message(this: WebSocket, data: RawData, isBinary: boolean): void {
      const conn = transport.sockets.get(this);
      if (!conn) return;
      if (isBinary) {
        transport.deps.audit.emit('binary_frame', { ip: conn.ip, user: conn.userId });
        conn.close(CLOSE.UNSUPPORTED_DATA, 'binary frames are not accepted');
        return;
      }
      transport.deps.pipeline.handleText(conn, data.toString());
    },
    error(this: WebSocket, error: Error & { code?: string }): void {
      const conn = transport.sockets.get(this);
      if (!conn) return;
      // Over maxPayloadBytes, or a 64-bit length past 2^53 (its top bit set, RFC 6455 5.2): both close 1009 from the header alone.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || error.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH')
        transport.deps.audit.emit('frame_too_big', { ip: conn.ip, user: conn.userId });
      else transport.deps.audit.emit('malformed_frame', { ip: conn.ip, user: conn.userId, detail: { reason: error.code ?? 'protocol' } });
    },
    close(this: WebSocket): void {
      const conn = transport.sockets.get(this);
      if (!conn) return;
      transport.sockets.delete(this);
      transport.deps.metrics.open.dec();
      conn.ticket?.release();
      conn.released();
    },
  }))(this);

  private open(ws: WebSocket, hs: HandshakeRequest, ticket: Ticket): void {
    const { config, hub, auth, metrics } = this.deps;
    const compressed = ws.extensions.includes('permessage-deflate');
    const conn = new Connection(hs.ip, new WsOutbound(ws, rawSocket(ws), compressed ? undefined : this.writer), hub, config.limits.maxBufferedBytes, this.hooks);
    this.sockets.set(ws, conn);
    conn.ticket = ticket;
    ticket.opened((code, reason) => conn.close(code, reason));
    alive.add(ws);
    hub.opened(conn, hs.ip);
    metrics.open.inc();
    const on = this.listeners;
    ws.on('pong', on.pong);
    answerPings(ws, this.pings);
    ws.on('message', on.message);
    ws.on('error', on.error);
    ws.on('close', on.close);
    if (hs.identity) {
      void auth.admitEarly(conn, hs.identity);
    } else {
      // Under pressure an unauthenticated connection gets auth.pressureTimeoutMs.
      conn.timer(this.deps.admission.authTimeoutMs(), this.authTimedOut);
    }
  }

  /** Resolves when every socket has closed, or after the timeout. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.sockets.keys()) ws.terminate();
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.wss.close();
  }
}
