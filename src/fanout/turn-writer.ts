/**
 * Fan-out without a syscall per message per socket. A server text frame (RFC 6455 section 5.2;
 * server frames are never masked) is encoded once into one buffer; consecutive sends of the same
 * serialized string (a broadcast loop) reuse it. Each socket written to is corked until the end
 * of the event-loop turn, so everything it receives in one turn leaves in one write.
 */
import type { Socket } from 'node:net';

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

export class TurnWriter {
  private corked: Socket[] = [];
  private readonly isCorked = new WeakSet<Socket>();
  private scheduled = false;
  private lastData: string | undefined;
  private lastFrame: Buffer | undefined;
  private readonly flushBound = (): void => this.flush();

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
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flushBound);
      }
    }
    socket.write(frame);
  }

  flush(): void {
    const sockets = this.corked;
    this.corked = [];
    this.scheduled = false;
    this.lastData = undefined;
    this.lastFrame = undefined;
    for (const socket of sockets) {
      this.isCorked.delete(socket);
      socket.uncork();
    }
  }
}
