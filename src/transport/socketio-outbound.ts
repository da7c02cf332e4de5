/**
 * Server frames to a Socket.IO client the way `/ws` writes them (contract section 4 "Socket.IO
 * mapping": every server frame is an event named by its type, a reply is the acknowledgement).
 * A frame arrives serialized once for all its recipients; its Socket.IO packet
 * (`42["chat.message",{...}]`) is built from that string once per broadcast, without parsing it
 * back, and written through the same per-turn corking as `/ws` (fanout/turn-writer.ts), which
 * frames it once for every subscriber. `socket.emit` would parse, re-encode and frame it per
 * socket, and queue it through engine.io's per-socket write buffer.
 *
 * The direct write is taken only when it cannot reorder anything: the engine.io session is on
 * its WebSocket transport, open, without compression, and engine.io holds no packet of its own
 * waiting (its write buffer is empty; what it already handed to `ws` is in the socket ahead of
 * ours). Otherwise the packet goes through engine.io, in order. Either way the bytes count in
 * `pendingBytes` (the socket's write queue), so the slow-consumer rule is unchanged.
 */
import type { Socket as NetSocket } from 'node:net';
import type { Socket } from 'socket.io';
import type { WebSocket } from 'ws';
import type { ServerFrame } from '../protocol/frames.js';
import type { TurnWriter } from '../fanout/turn-writer.js';

const TYPE_PREFIX = '{"type":"';

/**
 * The `type` of a serialized server frame, read from its first key (every frame is serialized
 * from an object literal that starts with `type`, and types are plain identifiers); undefined
 * when the string does not start that way.
 */
export function frameType(data: string): string | undefined {
  if (!data.startsWith(TYPE_PREFIX)) return undefined;
  const end = data.indexOf('"', TYPE_PREFIX.length);
  if (end < 0) return undefined;
  const type = data.slice(TYPE_PREFIX.length, end);
  return type.includes('\\') ? undefined : type;
}

/**
 * The Socket.IO EVENT packet of a serialized frame, with its engine.io `message` prefix:
 * `42["<type>",<frame>]`. The last one is kept, so a broadcast loop builds it once.
 */
export class EventPackets {
  private lastData: string | undefined;
  private lastPacket: string | undefined;

  packet(data: string): string | undefined {
    if (data === this.lastData) return this.lastPacket;
    const type = frameType(data);
    const packet = type === undefined ? undefined : `42["${type}",${data}]`;
    this.lastData = data;
    this.lastPacket = packet;
    return packet;
  }
}

interface EngineTransport {
  name: string;
  socket?: WebSocket;
}

interface EngineSocket {
  readyState: string;
  transport: EngineTransport;
  writeBuffer: unknown[];
  write(data: string, options?: { compress?: boolean }): void;
}

/** The TCP socket under `ws` when a direct write keeps the order of everything sent before. */
function directSocket(socket: Socket): NetSocket | undefined {
  const engine = socket.conn as unknown as EngineSocket;
  if (engine.readyState !== 'open' || engine.writeBuffer.length > 0) return undefined;
  const transport = engine.transport;
  if (transport.name !== 'websocket') return undefined;
  const ws = transport.socket;
  if (!ws || ws.readyState !== ws.OPEN || ws.extensions.includes('permessage-deflate')) return undefined;
  return (ws as unknown as { _socket: NetSocket })._socket;
}

/** Writes `42...`/`43...` text: directly when safe, else through engine.io (which adds the `4`). */
function writePacket(socket: Socket, writer: TurnWriter, text: string): void {
  const tcp = directSocket(socket);
  if (tcp) writer.write(tcp, text);
  else (socket.conn as unknown as EngineSocket).write(text.slice(1));
}

/** `Outbound.send` of a Socket.IO connection: a serialized frame becomes its event. */
export function socketIoSend(socket: Socket, writer: TurnWriter, packets: EventPackets): (data: string) => void {
  // Only the default namespace has packets without a namespace prefix.
  const plain = socket.nsp.name === '/';
  return function sendEvent(data) {
    if (!socket.connected) return;
    const packet = plain ? packets.packet(data) : undefined;
    if (packet !== undefined) return writePacket(socket, writer, packet);
    // Not a frame this module can read without parsing: Socket.IO encodes it.
    const frame = JSON.parse(data) as ServerFrame;
    socket.emit(frame.type, frame);
  };
}

/**
 * The acknowledgement of event `id`: `43<id>[<frame>]`, written like an event. Replaces Socket.IO's
 * own (`socket.ack`), which re-encodes through its parser and scans the reply for binary data;
 * like it, answers at most once.
 */
export function socketIoAck(socket: Socket, writer: TurnWriter, id: number): (frame: ServerFrame) => void {
  let sent = false;
  return function ack(frame) {
    if (sent || !socket.connected) return;
    sent = true;
    writePacket(socket, writer, `43${id}[${JSON.stringify(frame)}]`);
  };
}
