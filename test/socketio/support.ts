/**
 * A contract client over the real `socket.io-client`, for tests: frames go out as events named by
 * their type with an acknowledgement, server frames arrive as events, and a refused handshake is
 * the `connect_error` it produced. Every wait is bounded.
 */
import { io, type Socket } from 'socket.io-client';
import type { TestServer } from '../helpers/server.js';

import { FrameInbox, type Frame } from '../helpers/inbox.js';

export type { Frame };

export interface SioOptions {
  token?: string;
  /** `null` sends no Origin header. */
  origin?: string | null;
  transports?: Array<'websocket' | 'polling'>;
  headers?: Record<string, string>;
}

export interface ConnectRefused {
  message: string;
  /** `{ code, closeCode }` when the refusal came after the transport opened. */
  data: { code: string; closeCode: number } | undefined;
  /** What the transport reported (for an HTTP refusal: the status). */
  description: string;
}

let nextId = 0;

export class SioClient extends FrameInbox {
  /** The `close {code, reason}` event (undefined when the socket went without one); rejects after 5 s. */
  readonly closed: Promise<{ code: number; reason: string } | undefined>;
  /** The disconnect reason. */
  readonly disconnected: Promise<string>;
  welcome: Frame | undefined;

  constructor(readonly socket: Socket) {
    super();
    socket.onAny((_type: string, frame: Frame) => this.receive(frame));
    let close: { code: number; reason: string } | undefined;
    socket.on('close', (frame: { code: number; reason: string }) => (close = frame));
    this.disconnected = new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
    const closed = this.disconnected.then(() => close);
    // Bounded: a defence that fails to close must fail its test, not hang it.
    this.closed = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not close the socket within 5 s')), 5000);
      void closed.then((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
    this.closed.catch(() => undefined);
  }

  /** Emits the frame (a fresh id unless given) with an ack; resolves with the `ack` or `error` it receives. */
  request(frame: Record<string, unknown> & { type: string }, timeoutMs = 3000): Promise<Frame> {
    const id = 'id' in frame ? frame.id : `s${++nextId}`;
    return this.socket.timeout(timeoutMs).emitWithAck(frame.type, { ...frame, id }) as Promise<Frame>;
  }

  /** Like request, but throws unless the reply is an ack. */
  async ok(frame: Record<string, unknown> & { type: string }): Promise<Frame> {
    const reply = await this.request(frame);
    if (reply.type !== 'ack') throw new Error(`expected ack for ${frame.type}, got ${JSON.stringify(reply)}`);
    return reply;
  }

  close(): void {
    this.socket.close();
  }
}

function open(server: Pick<TestServer, 'url' | 'origin'>, options: SioOptions): Socket {
  const origin = options.origin === undefined ? server.origin : options.origin;
  return io(server.url, {
    transports: options.transports ?? ['websocket'],
    auth: options.token !== undefined ? { token: options.token } : {},
    extraHeaders: { ...(origin !== null ? { Origin: origin } : {}), ...options.headers },
    reconnection: false,
    forceNew: true,
    timeout: 3000,
  });
}

/** Connects and waits for `welcome`; rejects with the connect_error when refused. */
export async function sioConnect(server: TestServer, sub: string, options: SioOptions & { roles?: string[]; name?: string } = {}): Promise<SioClient> {
  const token = options.token ?? (await server.token(sub, { roles: options.roles, name: options.name }));
  const socket = open(server, { ...options, token });
  const client = new SioClient(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error: Error & { description?: unknown }) => {
      socket.close();
      const d = error.description as { message?: string } | undefined;
      reject(new Error(`${error.message}${d?.message ? `: ${d.message}` : ''}`));
    });
  });
  client.welcome = await client.next('welcome');
  return client;
}

/** The refusal of a handshake expected to fail (throws if it connects). */
export async function sioRefused(server: Pick<TestServer, 'url' | 'origin'>, options: SioOptions = {}): Promise<ConnectRefused> {
  const socket = open(server, options);
  try {
    return await new Promise<ConnectRefused>((resolve, reject) => {
      socket.once('connect', () => reject(new Error('the handshake was accepted')));
      socket.once('connect_error', (error: Error & { data?: ConnectRefused['data']; description?: unknown }) => {
        const d = error.description as { message?: string } | number | string | undefined;
        resolve({ message: error.message, data: error.data, description: typeof d === 'object' && d !== null ? String(d.message) : String(d) });
      });
    });
  } finally {
    socket.close();
  }
}

/** The HTTP status in a transport-level refusal ("Unexpected server response: 403", "xhr poll error" 400). */
export function statusOf(refused: ConnectRefused): number | undefined {
  const m = /(\d{3})/.exec(refused.description);
  return m ? Number(m[1]) : undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
