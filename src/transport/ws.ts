/**
 * The raw WebSocket transport (`GET /ws`): admission (`src/admission/`) vets the HTTP upgrade
 * request before anything is accepted, then each text frame goes to the pipeline. Binary
 * frames close 1003; frames over `limits.maxPayloadBytes` close 1009 (ws enforces it while
 * reading, after inflation when compression is on); the heartbeat terminates dead peers.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
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
import { Connection, type ConnectionHooks } from './connection.js';
import { answerPings } from './ping-flood.js';
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

export class WsTransport {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Map<WebSocket, Connection>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly hooks: ConnectionHooks;
  private readonly writer = new TurnWriter();
  private readonly upgrade: UpgradeOptions;
  private readonly plan: AdmissionPlan;

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

  private open(ws: WebSocket, hs: HandshakeRequest, ticket: Ticket): void {
    const { config, hub, pipeline, auth, audit, metrics } = this.deps;
    const socket = rawSocket(ws);
    const compressed = ws.extensions.includes('permessage-deflate');
    const conn = new Connection(
      hs.ip,
      {
        // With compression negotiated, ws frames (and may queue) itself; otherwise frame once, write corked.
        send: compressed
          ? (data) => ws.send(data)
          : (data) => {
              if (ws.readyState === ws.OPEN) this.writer.write(socket, data);
            },
        close: (code, reason) => {
          ws.close(code, reason);
          // A reader that stopped reading never completes the closing handshake.
          setTimeout(() => ws.terminate(), 2000).unref();
        },
        bufferedBytes: () => ws.bufferedAmount,
        pause: () => ws.pause(),
        resume: () => ws.resume(),
      },
      hub,
      config.limits.maxBufferedBytes,
      this.hooks,
    );
    this.sockets.set(ws, conn);
    conn.onAuthenticated = ticket.authenticated.bind(ticket);
    ticket.opened((code, reason) => conn.close(code, reason));
    alive.add(ws);
    hub.opened(conn, hs.ip);
    metrics.openConnections.inc();
    ws.on('pong', () => alive.add(ws));
    answerPings(ws, config.limits.maxPendingPongs, (pending) => {
      audit.emit('ping_flood', { ip: conn.ip, user: conn.userId, detail: { pending } });
      conn.close(CLOSE.POLICY, 'ping flood');
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        audit.emit('binary_frame', { ip: conn.ip, user: conn.userId });
        conn.close(CLOSE.UNSUPPORTED_DATA, 'binary frames are not accepted');
        return;
      }
      pipeline.handleText(conn, data.toString());
    });
    ws.on('error', (error: Error & { code?: string }) => {
      // Over maxPayloadBytes, or a 64-bit length past 2^53 (its top bit set, RFC 6455 5.2): both close 1009 from the header alone.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || error.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH')
        audit.emit('frame_too_big', { ip: conn.ip, user: conn.userId });
      else audit.emit('malformed_frame', { ip: conn.ip, user: conn.userId, detail: { reason: error.code ?? 'protocol' } });
    });
    ws.on('close', () => {
      ticket.release();
      this.sockets.delete(ws);
      metrics.openConnections.dec();
      conn.released();
    });
    if (hs.identity) {
      void auth.admitEarly(conn, hs.identity);
    } else {
      // Under pressure an unauthenticated connection gets auth.pressureTimeoutMs.
      conn.timer(this.deps.admission.authTimeoutMs(), () => {
        if (conn.authenticated) return;
        audit.emit('auth_timeout', { ip: conn.ip });
        conn.close(CLOSE.AUTH_TIMEOUT, 'authentication timeout');
      });
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
