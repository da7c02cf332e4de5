/**
 * A minimal contract client over the real `ws` package, for tests: sends frames, waits for
 * the reply with a given id or the next frame of a type, and records the close code.
 */
import WebSocket from 'ws';
import type { TestServer } from './server.js';

import { FrameInbox, type Frame } from './inbox.js';

export type { Frame };

export interface ConnectOptions {
  origin?: string | null;
  protocols?: string[];
  headers?: Record<string, string>;
  /** Sends `auth` with this token right after open and waits for `welcome`. */
  token?: string;
  path?: string;
}

let nextId = 0;

export class TestClient extends FrameInbox {
  readonly closed: Promise<{ code: number; reason: string }>;
  welcome: Frame | undefined;

  constructor(readonly ws: WebSocket) {
    super();
    ws.on('message', (data) => this.receive(JSON.parse(String(data)) as Frame));
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Sends a frame with a fresh id and resolves with its `ack` or `error`. */
  request(frame: Record<string, unknown>, timeoutMs?: number): Promise<Frame> {
    const id = (frame.id as string | undefined) ?? `r${++nextId}`;
    this.send({ ...frame, id });
    return this.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.id === id, timeoutMs);
  }

  /** Like request, but throws unless the reply is an ack. */
  async ok(frame: Record<string, unknown>): Promise<Frame> {
    const reply = await this.request(frame);
    if (reply.type !== 'ack') throw new Error(`expected ack for ${String(frame.type)}, got ${JSON.stringify(reply)}`);
    return reply;
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a socket; resolves once open (rejects with the HTTP status when refused). */
export function openSocket(server: Pick<TestServer, 'wsUrl' | 'origin'>, options: ConnectOptions = {}): Promise<TestClient> {
  const origin = options.origin === undefined ? server.origin : options.origin;
  const url = options.path ? server.wsUrl.replace(/\/ws$/, options.path) : server.wsUrl;
  const ws = new WebSocket(url, options.protocols ?? ['bulwark.v1'], {
    headers: { ...(origin !== null ? { Origin: origin } : {}), ...options.headers },
  });
  const client = new TestClient(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      const error = new Error(`handshake refused: ${res.statusCode}`) as Error & { status?: number; headers?: unknown };
      error.status = res.statusCode;
      error.headers = res.headers;
      res.resume();
      reject(error);
    });
    ws.once('error', reject);
  });
}

/** Opens, authenticates and waits for `welcome`. */
export async function connect(server: TestServer, sub: string, options: ConnectOptions & { name?: string; roles?: string[] } = {}): Promise<TestClient> {
  const token = options.token ?? (await server.token(sub, { name: options.name, roles: options.roles }));
  const client = await openSocket(server, options);
  client.send({ type: 'auth', token });
  client.welcome = await client.next('welcome');
  return client;
}

/** The HTTP status a refused handshake got, or 101 when it opened. */
export async function handshakeStatus(server: Pick<TestServer, 'wsUrl' | 'origin'>, options: ConnectOptions = {}): Promise<number> {
  try {
    const client = await openSocket(server, options);
    client.close();
    return 101;
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined) throw error;
    return status;
  }
}
