/**
 * Raw upgrade requests over `node:net` for the admission tests: the malformed and aborted
 * handshakes a well-behaved client never sends, each bounded in time, an engine.io session that
 * never sends CONNECT, and the admission gauges read from `GET /metrics`.
 */
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import type { TestServer } from '../helpers/server.js';
import { metricValue } from '../handshake/support.js';

export const ABUSE_KINDS = ['no_key', 'bad_key', 'version_12', 'duplicate_key', 'http_1_0', 'destroyed', 'reset'] as const;
export type AbuseKind = (typeof ABUSE_KINDS)[number];

/** What the server answered: an HTTP status, or 0 when the client hung up first. */
export interface RawOutcome {
  status: number;
  headers: Record<string, string>;
}

function requestFor(server: Pick<TestServer, 'url' | 'origin'>, kind: AbuseKind, path: string): string {
  const url = new URL(server.url);
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${path} HTTP/${kind === 'http_1_0' ? '1.0' : '1.1'}`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Origin: ${server.origin}`,
    'Sec-WebSocket-Protocol: bulwark.v1',
    `Sec-WebSocket-Version: ${kind === 'version_12' ? '12' : '13'}`,
  ];
  if (kind === 'bad_key') lines.push(`Sec-WebSocket-Key: ${randomBytes(15).toString('base64')}`);
  else if (kind === 'duplicate_key') lines.push(`Sec-WebSocket-Key: ${key}`, `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`);
  else if (kind !== 'no_key') lines.push(`Sec-WebSocket-Key: ${key}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Sends one malformed or aborted upgrade. `destroyed` sends a valid request and closes at once
 * (FIN), `reset` sends it and resets the connection (RST); the others read the answer.
 */
export function abusiveUpgrade(server: Pick<TestServer, 'url' | 'origin'>, kind: AbuseKind, path = '/ws', timeoutMs = 5000): Promise<RawOutcome> {
  const url = new URL(server.url);
  return new Promise((resolve) => {
    const socket = netConnect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.split('\r\n\r\n')[0] ?? '';
      const lines = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0), headers });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (Buffer.concat(chunks).includes('\r\n\r\n')) finish();
    });
    socket.on('connect', () => {
      socket.write(requestFor(server, kind, path));
      if (kind === 'destroyed') finish();
      else if (kind === 'reset') {
        settled = true;
        clearTimeout(timer);
        socket.resetAndDestroy();
        resolve({ status: 0, headers: {} });
      }
    });
  });
}

/** Runs `total` abusive upgrades, `batch` at a time, cycling through the kinds. */
export async function upgradeFlood(server: Pick<TestServer, 'url' | 'origin'>, total: number, batch: number, path = '/ws'): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  for (let sent = 0; sent < total; sent += batch) {
    const round: Array<Promise<void>> = [];
    for (let i = sent; i < Math.min(total, sent + batch); i++) {
      const kind = ABUSE_KINDS[i % ABUSE_KINDS.length]!;
      round.push(
        abusiveUpgrade(server, kind, path).then((o) => {
          const key = `${kind}:${o.status}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }),
      );
    }
    await Promise.all(round);
  }
  return outcomes;
}

/** The three admission gauges, summed over transports (or for one). */
export async function admissionGauges(server: TestServer, transport?: string): Promise<{ handshakes: number; pendingAuth: number; authenticated: number }> {
  const labels: Record<string, string> = transport ? { transport } : {};
  return {
    handshakes: await metricValue(server, 'bulwark_pending_handshakes', labels),
    pendingAuth: await metricValue(server, 'bulwark_pending_auth_connections', labels),
    authenticated: await metricValue(server, 'bulwark_authenticated_connections', labels),
  };
}

/** An engine.io WebSocket session that never sends CONNECT: Socket.IO's unauthenticated connection. */
export interface RawEngine {
  ws: WebSocket;
  packets: string[];
  closed: Promise<void>;
}

export function rawEngine(server: TestServer, ip: string): Promise<RawEngine> {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers: { Origin: server.origin, 'X-Forwarded-For': ip } });
  const packets: string[] = [];
  ws.on('message', (data) => packets.push(String(data)));
  const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, packets, closed }));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}
