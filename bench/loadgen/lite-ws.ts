/**
 * A minimal WebSocket client on `net`, used for every system so that the load generator costs
 * the same whatever it talks to, and so that one load-generator core can read far more frames
 * than the `ws` client would let it (frames are walked in place; payloads stay Buffers unless a
 * handler asks for text).
 *
 * Scope: client side of RFC 6455 for small text frames. Client frames carry an all-zero masking
 * key (legal on the wire, free to apply; unpredictability only matters for browsers behind
 * proxies). Server frames are unmasked; ping gets a pong; close ends the socket.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export type TextHandler = (buf: Buffer, start: number, end: number) => void;

export interface LiteOptions {
  port: number;
  path: string;
  origin: string;
  protocols?: string[];
  localAddress?: string;
  /** Called with each complete text frame payload (buf[start, end)). */
  onText: TextHandler;
  onClose?: (reason: string) => void;
}

const EMPTY = Buffer.alloc(0);
const ZERO_MASK = Buffer.alloc(4);

export function encodeFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const head = len < 126 ? 6 : len < 65536 ? 8 : 14;
  const frame = Buffer.allocUnsafe(head + len);
  frame[0] = 0x81;
  if (len < 126) {
    frame[1] = 0x80 | len;
  } else if (len < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(len, 6);
  }
  ZERO_MASK.copy(frame, head - 4);
  frame.write(text, head, 'utf8');
  return frame;
}

function controlFrame(opcode: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  ZERO_MASK.copy(frame, 2);
  payload.copy(frame, 6);
  return frame;
}

export class LiteWs {
  readonly socket: Socket;
  open = false;
  closed = false;
  /** HTTP status of a refused upgrade (0 while pending or after success). */
  status = 0;
  /** Code of the server's close frame (1005 when it had none; 0 before any). */
  closeCode = 0;
  onText: TextHandler;
  private onClose: ((reason: string) => void) | undefined;
  private pending: Buffer = EMPTY;
  private upgraded = false;
  private readonly opened: Promise<void>;

  constructor(opts: LiteOptions) {
    this.onText = opts.onText;
    this.onClose = opts.onClose;
    const socket = connect({ host: '127.0.0.1', port: opts.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    this.socket = socket;
    socket.setNoDelay(true);
    this.opened = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        const lines = [
          `GET ${opts.path} HTTP/1.1`,
          `Host: 127.0.0.1:${opts.port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
          'Sec-WebSocket-Version: 13',
          `Origin: ${opts.origin}`,
        ];
        if (opts.protocols && opts.protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${opts.protocols.join(', ')}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      socket.on('data', (chunk: Buffer) => {
        if (this.upgraded) return this.frames(chunk);
        this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
        const endOfHead = this.pending.indexOf('\r\n\r\n');
        if (endOfHead < 0) {
          if (this.pending.length > 16384) socket.destroy();
          return;
        }
        const head = this.pending.toString('latin1', 0, endOfHead);
        const rest = this.pending.subarray(endOfHead + 4);
        this.pending = EMPTY;
        const status = Number(head.slice(9, 12));
        if (status !== 101) {
          this.status = status || -1;
          socket.destroy();
          reject(new Error(`upgrade refused: ${status}`));
          return;
        }
        this.upgraded = true;
        this.open = true;
        resolve();
        if (rest.length > 0) this.frames(rest);
      });
      socket.on('error', (err) => {
        if (!this.upgraded) reject(err);
      });
      socket.on('close', () => {
        const wasOpen = this.open;
        this.open = false;
        this.closed = true;
        if (!this.upgraded) reject(new Error(`closed before upgrade (status ${this.status})`));
        if (wasOpen) this.onClose?.('closed');
      });
    });
    this.opened.catch(() => {});
  }

  ready(): Promise<void> {
    return this.opened;
  }

  send(text: string): void {
    if (this.open) this.socket.write(encodeFrame(text));
  }

  sendRaw(frame: Buffer): void {
    if (this.open) this.socket.write(frame);
  }

  close(): void {
    this.open = false;
    this.onClose = undefined;
    this.socket.destroy();
  }

  private frames(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    const n = buf.length;
    while (n - off >= 2) {
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
        head = 10;
      }
      if (b1 & 0x80) head += 4; // servers never mask; tolerate it without unmasking
      if (n - off < head + len) break;
      const start = off + head;
      const end = start + len;
      const opcode = b0 & 0x0f;
      if (opcode === 0x1 || opcode === 0x0) {
        this.onText(buf, start, end);
      } else if (opcode === 0x9) {
        this.socket.write(controlFrame(0xa, buf.subarray(start, end)));
      } else if (opcode === 0x8) {
        this.closeCode = len >= 2 ? buf.readUInt16BE(start) : 1005;
        this.socket.end(controlFrame(0x8, buf.subarray(start, Math.min(end, start + 2))));
        this.open = false;
        off = end;
        break;
      }
      off = end;
    }
    if (off >= n) {
      this.pending = EMPTY;
    } else {
      // Keep the partial frame; copy so the big chunk can be freed.
      buf = buf.subarray(off);
      this.pending = Buffer.from(buf);
    }
  }
}
