/**
 * Fan-out without a syscall per message per socket. A server text frame (RFC 6455 section 5.2;
 * server frames are never masked) is encoded once into one buffer; consecutive sends of the same
 * serialized string (a broadcast loop) reuse it. Each socket written to is corked until the end
 * of the event-loop turn, so everything it receives in one turn leaves in one write.
 *
 * Under load the flush is paced: a flush that took longer than `PACE_ABOVE_MS` (hundreds of
 * sockets, a syscall each) holds the next one back until as long again has passed, at most
 * `MAX_HOLD_MS`. A room of 1,000 that gets one message every few milliseconds would otherwise
 * cost 1,000 syscalls per message, each message alone in its turn; held, the messages of those
 * milliseconds leave together, one syscall per socket. At most half of the loop goes to flushing,
 * so reading, checking and storing keep up, and a quiet server is not delayed at all.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** A flush shorter than this (ms) does not pace the next one. */
export const PACE_ABOVE_MS = 1;
/** The longest a paced flush is held back (ms): small beside any delivery latency a person notices. */
export const MAX_HOLD_MS = 8;

export function encodeTextFrame(data: string): Buffer {
  const length = Buffer.byteLength(data);
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN + text opcode
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(data, header, 'utf8');
  return frame;
}

export interface TurnWriterOptions {
  /** @default PACE_ABOVE_MS */
  paceAboveMs?: number;
  /** @default MAX_HOLD_MS */
  maxHoldMs?: number;
}

export class TurnWriter {
  private readonly paceAboveMs: number;
  private readonly maxHoldMs: number;
  /** Flushes run so far, and how many of them were held back by pacing. */
  flushes = 0;
  heldFlushes = 0;

  constructor(options: TurnWriterOptions = {}) {
    this.paceAboveMs = options.paceAboveMs ?? PACE_ABOVE_MS;
    this.maxHoldMs = options.maxHoldMs ?? MAX_HOLD_MS;
  }

  private corked: Socket[] = [];
  private readonly isCorked = new WeakSet<Socket>();
  private scheduled = false;
  private lastData: string | undefined;
  private lastFrame: Buffer | undefined;
  private readonly flushBound = (): void => this.flush();
  /** How long the last flush took, and when it ended (performance.now() ms). */
  private lastFlushMs = 0;
  private lastFlushEnd = 0;

  write(socket: Socket, data: string): void {
    let frame = this.lastFrame;
    if (data !== this.lastData || frame === undefined) {
      frame = encodeTextFrame(data);
      this.lastData = data;
      this.lastFrame = frame;
    }
    if (!this.isCorked.has(socket)) {
      socket.cork();
      this.isCorked.add(socket);
      this.corked.push(socket);
      if (!this.scheduled) this.schedule();
    }
    socket.write(frame);
  }

  private schedule(): void {
    this.scheduled = true;
    const hold = this.lastFlushMs < this.paceAboveMs ? 0 : Math.min(this.maxHoldMs, this.lastFlushMs) - (performance.now() - this.lastFlushEnd);
    if (hold <= 0) {
      setImmediate(this.flushBound);
    } else {
      this.heldFlushes++;
      setTimeout(this.flushBound, hold);
    }
  }

  flush(): void {
    const started = performance.now();
    this.flushes++;
    const sockets = this.corked;
    this.corked = [];
    this.scheduled = false;
    this.lastData = undefined;
    this.lastFrame = undefined;
    for (const socket of sockets) {
      this.isCorked.delete(socket);
      socket.uncork();
    }
    this.lastFlushEnd = performance.now();
    this.lastFlushMs = this.lastFlushEnd - started;
  }
}
