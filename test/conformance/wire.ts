/**
 * RFC 6455 at the byte level, for the conformance suite: a hand-written upgrade over `node:net`,
 * a frame builder that can write what no well-behaved client would (reserved bits, reserved
 * opcodes, unmasked frames, lying lengths, fragmented control frames), and a reader that parses
 * the server's frames and records how the connection ended. Nothing here trusts the `ws` package:
 * it is the thing under test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** FIN bit. @default true */
  fin?: boolean;
  /** RSV1..3 as a 3-bit number (RSV1 = 4). @default 0 */
  rsv?: number;
  /** Client frames must be masked (RFC 6455 5.1). @default true */
  mask?: boolean;
  /** Writes this length in the header instead of the payload's (a lie). */
  declaredLength?: bigint | number;
  /** Force the 64-bit length form even for short payloads. */
  long?: boolean;
}

/** Encodes one frame exactly as specified, lies included. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const fin = spec.fin ?? true;
  const mask = spec.mask ?? true;
  const length = BigInt(spec.declaredLength ?? payload.length);
  const head: number[] = [(fin ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | (spec.opcode & 0x0f)];
  let ext = Buffer.alloc(0);
  if (!spec.long && length < 126n) {
    head.push((mask ? 0x80 : 0) | Number(length));
  } else if (!spec.long && length < 65536n) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ key[i % 4]!;
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

/** A close frame payload: the code, then the reason bytes. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

export interface ServerFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export interface Ending {
  /** The close code the server sent, 1005 for a close frame without one, 1006 for no close frame at all. */
  code: number;
  reason: string;
}

export interface UpgradeOptions {
  /** @default '/ws' */
  path?: string;
  /** `null` sends no Origin. @default the server's own origin */
  origin?: string | null;
  /** @default ['bulwark.v1'] on /ws, none elsewhere */
  protocols?: string[];
  headers?: Record<string, string>;
}

/**
 * A raw WebSocket peer after a hand-written upgrade. It answers the server's close frame the way
 * RFC 6455 5.5.1 asks (echo the code, then stop sending) and otherwise sends only what a test
 * writes, byte for byte.
 */
export class RawPeer {
  readonly frames: ServerFrame[] = [];
  readonly ended: Promise<Ending>;
  /** Resolves when the TCP connection is gone (after the closing handshake, or at once on a reset). */
  readonly gone: Promise<void>;
  /** Bytes written by the test after the upgrade. */
  bytesSent = 0;
  private buffer: Buffer;
  private waiters: Array<{ match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }> = [];
  private closeFrame: Ending | undefined;
  private finish!: (e: Ending) => void;
  private socketClosed = false;

  constructor(
    readonly socket: Socket,
    leftover: Buffer,
  ) {
    this.buffer = Buffer.alloc(0);
    this.ended = new Promise((resolve) => (this.finish = resolve));
    this.gone = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.socketClosed = true;
      this.finish(this.closeFrame ?? { code: 1006, reason: '' });
    });
    if (leftover.length) this.onData(leftover);
  }

  /** Writes raw bytes (a frame, part of one, or several). */
  write(bytes: Buffer): void {
    if (this.socketClosed || this.socket.destroyed) return;
    this.bytesSent += bytes.length;
    this.socket.write(bytes);
  }

  send(spec: FrameSpec): void {
    this.write(encodeFrame(spec));
  }

  text(data: string): void {
    this.send({ opcode: OP.TEXT, payload: data });
  }

  json(frame: Record<string, unknown>): void {
    this.text(JSON.stringify(frame));
  }

  /** The next server frame matching (already received or future); rejects after `timeoutMs`. */
  next(match: (f: ServerFrame) => boolean, timeoutMs = 3000): Promise<ServerFrame> {
    const seen = this.frames.find(match);
    if (seen) {
      this.frames.splice(this.frames.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for a server frame; have opcodes ${this.frames.map((f) => f.opcode).join(',')}`));
      }, timeoutMs);
      const done = (f: ServerFrame): void => {
        clearTimeout(timer);
        this.frames.splice(this.frames.indexOf(f), 1);
        resolve(f);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** The next text frame, parsed as JSON, matching. */
  async nextJson(match: (f: Record<string, unknown>) => boolean = () => true, timeoutMs = 3000): Promise<Record<string, unknown>> {
    const frame = await this.next((f) => f.opcode === OP.TEXT && match(JSON.parse(f.payload.toString()) as Record<string, unknown>), timeoutMs);
    return JSON.parse(frame.payload.toString()) as Record<string, unknown>;
  }

  /** Authenticates with an `auth` frame and waits for `welcome`. */
  async auth(token: string): Promise<Record<string, unknown>> {
    this.json({ type: 'auth', token });
    return this.nextJson((f) => f.type === 'welcome');
  }

  /** How the connection ended, or 'open' if it did not within `ms`. */
  async ending(ms = 5000): Promise<Ending | 'open'> {
    let timer: NodeJS.Timeout | undefined;
    const open = new Promise<'open'>((resolve) => (timer = setTimeout(() => resolve('open'), ms)));
    const result = await Promise.race([this.ended, open]);
    clearTimeout(timer);
    return result;
  }

  /** Whether the server has ended the connection (close frame received or socket closed). */
  get closed(): boolean {
    return this.closeFrame !== undefined || this.socketClosed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const frame = this.parseOne();
      if (!frame) return;
      if (frame.opcode === OP.CLOSE && !this.closeFrame) {
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
        this.closeFrame = { code, reason: frame.payload.subarray(2).toString() };
        // Echo the close (RFC 6455 5.5.1), then the server ends TCP.
        if (!this.socket.destroyed) this.socket.write(encodeFrame({ opcode: OP.CLOSE, payload: frame.payload.subarray(0, 2) }));
        this.finish(this.closeFrame);
      }
      this.frames.push(frame);
      const i = this.waiters.findIndex((w) => w.match(frame));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(frame);
    }
  }

  private parseOne(): ServerFrame | undefined {
    const b = this.buffer;
    if (b.length < 2) return undefined;
    const masked = (b[1]! & 0x80) !== 0;
    let length = b[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    const keyBytes = masked ? 4 : 0;
    if (b.length < offset + keyBytes + length) return undefined;
    let payload = b.subarray(offset + keyBytes, offset + keyBytes + length);
    if (masked) {
      const key = b.subarray(offset, offset + 4);
      payload = Buffer.from(payload.map((x, i) => x ^ key[i % 4]!));
    }
    this.buffer = b.subarray(offset + keyBytes + length);
    return { fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 0x7, opcode: b[0]! & 0x0f, masked, payload: Buffer.from(payload) };
  }
}

export interface HttpHead {
  status: number;
  headers: Record<string, string>;
  raw: string;
}

/** Parses a status line and headers (lower-cased names; repeated headers joined with ", "). */
export function parseHead(text: string): HttpHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status, headers, raw: text };
}

/** The `Sec-WebSocket-Accept` a server must answer for `key` (RFC 6455 4.2.2). */
export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** Opens a TCP connection to the server's host and port. */
export function dial(baseUrl: string): Promise<Socket> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: url.hostname, port: Number(url.port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * A hand-written RFC 6455 upgrade. Resolves with the peer once the server answered `101` with the
 * right `Sec-WebSocket-Accept`; rejects with the response head otherwise.
 */
export async function upgrade(baseUrl: string, options: UpgradeOptions = {}): Promise<RawPeer> {
  const path = options.path ?? '/ws';
  const url = new URL(baseUrl);
  const key = randomBytes(16).toString('base64');
  const protocols = options.protocols ?? (path === '/ws' ? ['bulwark.v1'] : []);
  const origin = options.origin === undefined ? url.origin : options.origin;
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...(protocols.length ? [`Sec-WebSocket-Protocol: ${protocols.join(', ')}`] : []),
    ...(origin !== null ? [`Origin: ${origin}`] : []),
    ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  const socket = await dial(baseUrl);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  const { head, rest } = await readHead(socket);
  if (head.status !== 101 || head.headers['sec-websocket-accept'] !== acceptFor(key)) {
    socket.destroy();
    throw Object.assign(new Error(`upgrade refused: ${head.status}`), { head });
  }
  return new RawPeer(socket, rest);
}

/** Reads an HTTP response head (bounded: 5 s, 64 KiB). */
export function readHead(socket: Socket): Promise<{ head: HttpHead; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('no response head within 5 s')), 5000);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) return done(undefined, end);
      if (buf.length > 65_536) done(new Error('response head over 64 KiB'));
    };
    const onClose = (): void => done(new Error(`socket closed before a response head: ${JSON.stringify(buf.toString().slice(0, 200))}`));
    const done = (error: Error | undefined, end?: number): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) return reject(error);
      resolve({ head: parseHead(buf.subarray(0, end).toString('latin1')), rest: buf.subarray(end! + 4) });
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}
