/**
 * The raw WebSocket transport (`GET /ws`): runs the handshake guards on the HTTP upgrade
 * request before anything is accepted, then hands each text frame to the pipeline. Binary
 * frames close 1003; frames over `limits.maxPayloadBytes` close 1009 (ws enforces it while
 * reading, after inflation when compression is on); the heartbeat terminates dead peers.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { SessionAuth } from '../auth/session-auth.js';
import type { Config } from '../config/schema.js';
import type { FramePipeline } from '../pipeline/frame-pipeline.js';
import type { HandshakeGuard, HandshakeRefusal, HandshakeRequest } from '../guards/handshake/types.js';
import { SUBPROTOCOL } from '../guards/handshake/subprotocol.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { SecurityAudit } from '../security/audit.js';
import { clientIp } from './client-ip.js';
import { Connection, type ConnectionHooks } from './connection.js';
import type { Hub } from '../fanout/hub.js';
import { securityHeaderLines } from './security-headers.js';
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
  guards: readonly HandshakeGuard[];
  tls: boolean;
}

const alive = new WeakSet<WebSocket>();

/**
 * Module-level on purpose: a closure created in handleUpgrade would share its context, and as a
 * listener living as long as the socket it would keep the request, its headers and the head
 * buffer alive for the whole connection.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** ws keeps its socket private; the turn writer writes pre-framed buffers to it directly. */
function rawSocket(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

export class WsTransport {
  private readonly wss: WebSocketServer;
  private readonly sockets = new Map<WebSocket, Connection>();
  private readonly trusted: ReadonlySet<string>;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly hooks: ConnectionHooks;
  /** Upgrades past the guards but not yet open, counted against the caps. */
  private inFlight = 0;
  private readonly inFlightPerIp = new Map<string, number>();
  private accepting = true;
  private readonly writer = new TurnWriter();

  constructor(private readonly deps: WsTransportDeps) {
    const { config } = deps;
    this.trusted = new Set(config.trustProxy);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.limits.maxPayloadBytes,
      maxFragments: config.limits.maxFragments,
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
    this.heartbeat = setInterval(() => this.beat(), config.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Open plus in-flight connections, for the capacity guard. */
  total(): number {
    return this.deps.hub.openCount + this.inFlight;
  }

  perIp(ip: string): number {
    return this.deps.hub.ipCount(ip) + (this.inFlightPerIp.get(ip) ?? 0);
  }

  private track(ip: string, delta: number): void {
    this.inFlight += delta;
    const n = (this.inFlightPerIp.get(ip) ?? 0) + delta;
    if (n <= 0) this.inFlightPerIp.delete(ip);
    else this.inFlightPerIp.set(ip, n);
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

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError);
    if (!this.accepting) return this.refuse(socket, { status: 503, event: 'capacity_refused', reason: 'shutdown', retryAfterMs: 5000 }, undefined);
    const ip = clientIp(req, this.trusted);
    const rawHeaders = req.rawHeaders;
    let headerBytes = 0;
    for (const h of rawHeaders) headerBytes += h.length + 2;
    const protocolHeader = req.headers['sec-websocket-protocol'];
    const hs: HandshakeRequest = {
      ip,
      origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
      headers: req.headers,
      headerCount: rawHeaders.length / 2,
      headerBytes,
      url: new URL(req.url ?? '/', 'http://localhost'),
      protocols: protocolHeader
        ? protocolHeader
            .split(',')
            .map((p) => p.trim())
            .filter(Boolean)
        : [],
    };
    // The handshake counts against the caps from the moment it passes the capacity guard.
    let held = false;
    const release = (): void => {
      if (held) this.track(ip, -1);
      held = false;
    };
    void this.runGuards(hs, () => {
      held = true;
      this.track(ip, 1);
    }).then(
      (refusal) => {
        if (refusal) {
          release();
          return this.refuse(socket, refusal, hs);
        }
        if (socket.destroyed) return release();
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          release();
          this.open(ws, hs);
        });
      },
      (error: unknown) => {
        release();
        this.deps.log.error({ err: error }, 'handshake guard failed');
        this.writeStatus(socket, 503, { retryAfterMs: 5000 });
      },
    );
  }

  private async runGuards(req: HandshakeRequest, admitted: () => void): Promise<HandshakeRefusal | undefined> {
    for (const guard of this.deps.guards) {
      let verdict = guard.check(req);
      if (verdict instanceof Promise) verdict = await verdict;
      if (verdict) return verdict;
      if (guard.name === 'capacity') admitted();
    }
    return undefined;
  }

  private refuse(socket: Duplex, refusal: HandshakeRefusal, req: HandshakeRequest | undefined): void {
    this.deps.metrics.handshakeRefusals.inc({ reason: refusal.reason });
    this.deps.audit.emit(refusal.event, { ip: req?.ip, detail: { status: refusal.status, ...refusal.detail } });
    this.writeStatus(socket, refusal.status, refusal);
  }

  private writeStatus(socket: Duplex, status: number, opts: { retryAfterMs?: number | undefined }): void {
    if (socket.destroyed) return;
    const text = STATUS_CODES[status] ?? 'Error';
    const lines = [`HTTP/1.1 ${status} ${text}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(text)}`];
    if (opts.retryAfterMs !== undefined) lines.push(`Retry-After: ${Math.max(1, Math.ceil(opts.retryAfterMs / 1000))}`);
    lines.push(...securityHeaderLines(this.deps.tls));
    socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private open(ws: WebSocket, hs: HandshakeRequest): void {
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
    alive.add(ws);
    hub.opened(conn, hs.ip);
    metrics.openConnections.inc();
    ws.on('pong', () => alive.add(ws));
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
      this.sockets.delete(ws);
      metrics.openConnections.dec();
      conn.released();
    });
    if (hs.identity) {
      void auth.admitEarly(conn, hs.identity);
    } else {
      conn.timer(config.auth.timeoutMs, () => {
        if (conn.authenticated) return;
        audit.emit('auth_timeout', { ip: conn.ip });
        conn.close(CLOSE.AUTH_TIMEOUT, 'authentication timeout');
      });
    }
  }

  /** Stops accepting upgrades (shutdown). */
  stopAccepting(): void {
    this.accepting = false;
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
