/**
 * Every request the self-audit sends goes through here: only to the target's host and port,
 * each with a timeout, and counted against a hard budget, so an audit is gentle by construction
 * (docs/protocol.md, "Self-audit": at most a few hundred requests).
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../protocol/constants.js';
import type { AuditTarget } from './types.js';

/** The most requests one audit may send. */
export const REQUEST_BUDGET = 300;
const TIMEOUT_MS = 5000;
const MAX_RETRY_WAIT_S = 15;

/** Seconds to wait before retrying a 429, or undefined when it should not be retried. */
function retryAfter(status: number, headers: IncomingHttpHeaders): number | undefined {
  if (status !== 429) return undefined;
  const seconds = Number(headers['retry-after'] ?? 1);
  return Number.isFinite(seconds) && seconds <= MAX_RETRY_WAIT_S ? Math.max(1, seconds) : undefined;
}

const sleep = (seconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

export class BudgetExhausted extends Error {
  override name = 'BudgetExhausted';
}

class HandshakeRefused extends Error {
  override name = 'HandshakeRefused';
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
  ) {
    super(`handshake answered ${status}`);
  }
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HandshakeOptions {
  /** `null` sends no Origin header; default: the legitimate origin. */
  origin?: string | null;
  /** Offered subprotocols; default `bulwark.v1`. */
  protocols?: string[];
  /** Appended to the path, e.g. `?token=…`. */
  query?: string;
  extensions?: string;
  /** Keep an accepted socket open (the caller destroys it). */
  keep?: boolean;
  /**
   * On 429 (the audit's own earlier probes spent the handshake budget), wait out `Retry-After`
   * once, up to 15 s, and try again. Off for the limit probes, which look for that 429. @default true
   */
  retry?: boolean;
}

export interface HandshakeReply {
  /** 101 on success; 0 when the connection failed. */
  status: number;
  headers: IncomingHttpHeaders;
  socket?: Duplex;
  error?: string;
}

export class Probe {
  sent = 0;
  private readonly open = new Set<Duplex | WebSocket>();

  constructor(
    readonly target: AuditTarget,
    private readonly ca: Buffer | undefined,
  ) {}

  private spend(): void {
    if (this.sent >= REQUEST_BUDGET) throw new BudgetExhausted(`request budget of ${REQUEST_BUDGET} spent`);
    this.sent++;
  }

  private requestFn(): typeof httpRequest {
    return (this.target.base.protocol === 'https:' ? httpsRequest : httpRequest) as typeof httpRequest;
  }

  private baseOptions(path: string, headers: Record<string, string>): Record<string, unknown> {
    const { base } = this.target;
    return {
      host: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port || (base.protocol === 'https:' ? 443 : 80),
      path,
      headers: { Host: base.host, 'User-Agent': 'bulwark-audit', ...headers },
      timeout: TIMEOUT_MS,
      agent: false,
      ...(this.ca ? { ca: this.ca } : {}),
      servername: base.hostname.replace(/^\[|\]$/g, ''),
    };
  }

  /** One HTTP request; the body is read up to 64 KiB. */
  http(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<HttpReply> {
    this.spend();
    return new Promise((resolve, reject) => {
      const req = this.requestFn()({ ...this.baseOptions(path, body === undefined ? headers : { 'Content-Type': 'application/json', ...headers }), method }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 65_536) text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A raw RFC 6455 upgrade request: the status the server answers, before any frame. */
  async handshake(options: HandshakeOptions = {}): Promise<HandshakeReply> {
    const reply = await this.upgrade(options);
    const wait = options.retry === false ? undefined : retryAfter(reply.status, reply.headers);
    if (wait === undefined) return reply;
    await sleep(wait);
    return this.upgrade(options);
  }

  private upgrade(options: HandshakeOptions): Promise<HandshakeReply> {
    this.spend();
    const origin = options.origin === undefined ? this.target.origin : options.origin;
    const headers: Record<string, string> = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    };
    const protocols = options.protocols ?? [SUBPROTOCOL];
    if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');
    if (origin !== null) headers.Origin = origin;
    if (options.extensions) headers['Sec-WebSocket-Extensions'] = options.extensions;
    return new Promise((resolve) => {
      const req = this.requestFn()(this.baseOptions(`${this.target.ws.pathname}${options.query ?? ''}`, headers));
      req.on('upgrade', (res: IncomingMessage, socket: Duplex) => {
        socket.on('error', () => {});
        if (options.keep) this.open.add(socket);
        else socket.destroy();
        resolve({ status: 101, headers: res.headers, ...(options.keep ? { socket } : {}) });
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', (err) => resolve({ status: 0, headers: {}, error: err.message }));
      req.end();
    });
  }

  /** A real WebSocket client (frames, compression), with the legitimate origin and `bulwark.v1`. */
  async websocket(options: { perMessageDeflate?: boolean } = {}): Promise<WebSocket> {
    try {
      return await this.dial(options);
    } catch (err) {
      const wait = err instanceof HandshakeRefused ? retryAfter(err.status, err.headers) : undefined;
      if (wait === undefined) throw err;
      await sleep(wait);
      return this.dial(options);
    }
  }

  private dial(options: { perMessageDeflate?: boolean }): Promise<WebSocket> {
    this.spend();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.target.ws, [SUBPROTOCOL], {
        origin: this.target.origin,
        perMessageDeflate: options.perMessageDeflate ?? false,
        handshakeTimeout: TIMEOUT_MS,
        ...(this.ca ? { ca: this.ca } : {}),
      });
      this.open.add(ws);
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        reject(new HandshakeRefused(res.statusCode ?? 0, res.headers));
      });
      ws.once('error', reject);
    });
  }

  /** Closes whatever an audit left open. */
  release(): void {
    for (const s of this.open) {
      if (s instanceof WebSocket) s.terminate();
      else s.destroy();
    }
    this.open.clear();
  }
}

/** Resolves with the close code of `ws` (or 0 when it does not close within the timeout). */
export function closeCode(ws: WebSocket, timeoutMs = TIMEOUT_MS): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(1006);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(0), timeoutMs);
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    ws.on('error', () => {});
  });
}
