/**
 * Shared tools for the attack tests (handshake, auth, admission, TLS): a live recorder of the
 * security events a server emits, the stored event rows, Prometheus counters read over HTTP,
 * raw HTTP over `node:net` for handshakes a well-behaved client would never send, and small
 * bounded waits.
 */
import { connect as netConnect } from 'node:net';
import type { TestServer } from '../helpers/server.js';

/** Config that keeps the loopback test client under the per-IP handshake rate and caps. */
export const ROOMY = {
  rateLimits: { handshake: { points: 100_000, durationMs: 60_000 }, default: { points: 100_000, durationMs: 10_000 } },
  limits: { maxConnectionsPerIp: 1000 },
} as const;

import { EventRecorder as BaseRecorder } from '../helpers/events.js';
export { eventually, sleep, storedEvents, type Recorded } from '../helpers/events.js';

/**
 * Events that are consequences of earlier ones (abuse scoring crossing its threshold and the ban
 * it places), not refusals: the recorder keeps them apart so "one refusal, one event" can be
 * asserted while abuse scoring runs with its defaults.
 */
export const CONSEQUENCES: ReadonlySet<string> = new Set(['abuse_threshold', 'ban_added', 'ban_removed', 'security_alert']);

/** The shared recorder with the consequence events kept apart. */
export class EventRecorder extends BaseRecorder {
  constructor(server: TestServer) {
    super(server, CONSEQUENCES);
  }
}

/** Reads one sample of a Prometheus metric from `GET /metrics` (0 when absent). */
export async function metricValue(server: TestServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (m[3] ?? '').split(',').filter(Boolean)) {
      const eq = pair.indexOf('=');
      found[pair.slice(0, eq)] = JSON.parse(pair.slice(eq + 1)) as string;
    }
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(m[4]);
  }
  return total;
}

export interface RawResponse {
  /** HTTP status of the first response line, or 0 when the server sent nothing. */
  status: number;
  headers: Record<string, string>;
  text: string;
  /** Milliseconds from sending to the end of the response (or the socket closing). */
  elapsedMs: number;
}

/** Sends raw bytes on a new TCP connection and reads until the server closes (or the timeout). */
export function rawRequest(server: Pick<TestServer, 'url'>, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  const url = new URL(server.url);
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = netConnect({ host: url.hostname, port: Number(url.port) });
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRaw(Buffer.concat(chunks).toString('latin1'), Date.now() - started));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // A refused handshake answers with a complete HTTP response; an accepted one with 101.
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      if (head >= 0) {
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, head));
        if (text.startsWith('HTTP/1.1 101') || (length && text.length >= head + 4 + Number(length[1]))) finish();
      }
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(request);
  });
}

function parseRaw(text: string, elapsedMs: number): RawResponse {
  const head = text.indexOf('\r\n\r\n');
  const lines = (head >= 0 ? text.slice(0, head) : text).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, text: head >= 0 ? text.slice(head + 4) : '', elapsedMs };
}

/** A syntactically valid WebSocket upgrade request for `/ws`, with extra header lines. */
export function upgradeRequest(server: Pick<TestServer, 'url' | 'origin'>, extra: string[] = [], path = '/ws'): string {
  const url = new URL(server.url);
  return [
    `GET ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Protocol: bulwark.v1',
    `Origin: ${server.origin}`,
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/**
 * Signs a token with the test server's HMAC secret, with exactly the claims given (no defaults):
 * for expired, not-yet-valid, claim-less or wrongly addressed tokens the server's minting refuses to make.
 */
export async function signHs(server: TestServer, claims: Record<string, unknown>, header: { alg?: string; kid?: string } = {}): Promise<string> {
  const { SignJWT } = await import('jose');
  const { hmacSecret } = await import('../../src/auth/keys.js');
  return new SignJWT(claims).setProtectedHeader({ alg: header.alg ?? 'HS256', typ: 'JWT', ...(header.kid ? { kid: header.kid } : {}) }).sign(hmacSecret(server.config));
}

/** Seconds since the epoch, offset by `deltaS`. */
export function epoch(deltaS = 0): number {
  return Math.floor(Date.now() / 1000) + deltaS;
}

/** The close of a test client, or a rejection after `timeoutMs` (every wait in these tests is bounded). */
export function closeOf(client: { closed: Promise<{ code: number; reason: string }> }, timeoutMs = 5000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the connection was not closed within ${timeoutMs} ms`)), timeoutMs);
    client.closed.then(
      (c) => {
        clearTimeout(timer);
        resolve(c);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
