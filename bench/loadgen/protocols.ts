/**
 * How the load generator speaks to each system. All three systems get the same load, the same
 * client code and the same byte sizes; only the envelope differs. A new system (for instance
 * `bulwark-socketio`, Bulwark over Socket.IO) plugs in by adding an adapter here and a server
 * entry in ../systems/index.ts.
 */
export type FrameKind = 'ack' | 'error' | 'message' | 'typing' | 'welcome' | 'refused' | 'open' | 'ping' | 'other';

export interface ClientProtocol {
  readonly name: string;
  readonly path: string;
  readonly protocols: string[];
  /** Wait for a server `open` frame before sending `hello` (engine.io). */
  readonly waitForOpen: boolean;
  /** The authentication frame. */
  hello(token: string): string;
  /** Frames that must be answered with an ack before the room can be used for echo (or none). */
  echoRoom(room: string, id: number): string | undefined;
  /** Create the fanout room (or none when rooms exist implicitly). */
  createRoom(room: string, id: number): string | undefined;
  join(room: string, id: number): string;
  send(room: string, id: number, text: string): string;
  /** A `chat.typing` signal (no id, no reply), where the protocol has one. */
  typing?(room: string): string;
  classify(buf: Buffer, start: number, end: number): FrameKind;
  /** Answer to a `ping` frame, when the protocol pings at the application level. */
  readonly pong?: string;
}

function has(buf: Buffer, at: number, bytes: Buffer): boolean {
  if (at + bytes.length > buf.length) return false;
  for (let i = 0; i < bytes.length; i++) if (buf[at + i] !== bytes[i]) return false;
  return true;
}

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const JSON_TYPE = B('{"type":"');
const T_ACK = B('ack"');
const T_ERROR = B('error"');
const T_MESSAGE = B('chat.message"');
const T_WELCOME = B('welcome"');
const T_TYPING = B('chat.typing"');

/** Bulwark's contract frames; raw-ws answers with the same shapes. */
function jsonFrames(name: string, path: string, protocols: string[], rooms: boolean): ClientProtocol {
  return {
    name,
    path,
    protocols,
    waitForOpen: false,
    hello: (token) => JSON.stringify({ type: 'auth', token }),
    echoRoom: (room, id) => (rooms ? JSON.stringify({ type: 'room.create', id: `c${id}`, room, visibility: 'public' }) : undefined),
    createRoom: (room, id) => (rooms ? JSON.stringify({ type: 'room.create', id: `c${id}`, room, visibility: 'public' }) : undefined),
    join: (room, id) => JSON.stringify({ type: 'room.join', id: `j${id}`, room }),
    send: (room, id, text) => JSON.stringify({ type: 'chat.send', id: `m${id}`, room, text }),
    ...(rooms ? { typing: (room: string) => JSON.stringify({ type: 'chat.typing', room }) } : {}),
    classify(buf, start) {
      if (!has(buf, start, JSON_TYPE)) return 'other';
      const at = start + JSON_TYPE.length;
      if (has(buf, at, T_MESSAGE)) return 'message';
      if (has(buf, at, T_ACK)) return 'ack';
      if (has(buf, at, T_ERROR)) return 'error';
      if (has(buf, at, T_WELCOME)) return 'welcome';
      if (has(buf, at, T_TYPING)) return 'typing';
      return 'other';
    },
  };
}

const SIO_ACK = B('43');
const SIO_EVENT_MSG = B('42["chat:message"');
const SIO_CONNECTED = B('40');
const SIO_REFUSED = B('44');
const SIO_ERROR_EVENT = B('42["error"');
const ERROR_KEY = B('"error"');

/** Socket.IO v4 over its WebSocket transport (engine.io v4 packets, no polling). */
const socketIoSeed: ClientProtocol = {
  name: 'socketio-seed',
  path: '/socket.io/?EIO=4&transport=websocket',
  protocols: [],
  waitForOpen: true,
  pong: '3',
  hello: (token) => `40${JSON.stringify({ token })}`,
  echoRoom: () => undefined,
  createRoom: () => undefined,
  join: (room, id) => `42${id}${JSON.stringify(['room:join', room])}`,
  send: (room, id, text) => `42${id}${JSON.stringify(['chat:send', { message: text, roomId: room }])}`,
  classify(buf, start, end) {
    const c0 = buf[start];
    if (end - start === 1 && c0 === 0x32) return 'ping';
    if (c0 === 0x30) return 'open';
    if (has(buf, start, SIO_EVENT_MSG)) return 'message';
    if (has(buf, start, SIO_ACK)) {
      const i = buf.indexOf(ERROR_KEY, start);
      return i >= 0 && i < end ? 'error' : 'ack';
    }
    if (has(buf, start, SIO_ERROR_EVENT)) return 'error';
    if (has(buf, start, SIO_REFUSED)) return 'refused';
    if (has(buf, start, SIO_CONNECTED)) return 'welcome';
    return 'other';
  },
};

const SIO_BW_MSG = B('42["chat.message"');
const SIO_BW_WELCOME = B('42["welcome"');
const SIO_BW_ERROR = B('42["error"');
const SIO_BW_ACK_ERROR = B('[{"type":"error"');

/**
 * Bulwark over its Socket.IO transport (`src/transport/socketio.ts`), WebSocket transport only:
 * the token in the CONNECT packet's auth payload, each contract frame as an event named by its
 * type with an ack id; the reply (`ack` or `error` frame) comes back as the ack, every other
 * server frame as an event named by its type (`welcome`, `chat.message`, ...).
 */
const bulwarkSocketIo: ClientProtocol = {
  name: 'bulwark-socketio',
  path: '/socket.io/?EIO=4&transport=websocket',
  protocols: [],
  waitForOpen: true,
  pong: '3',
  hello: (token) => `40${JSON.stringify({ token })}`,
  echoRoom: (room, id) => `42${id}${JSON.stringify(['room.create', { type: 'room.create', id: `c${id}`, room, visibility: 'public' }])}`,
  createRoom: (room, id) => `42${id}${JSON.stringify(['room.create', { type: 'room.create', id: `c${id}`, room, visibility: 'public' }])}`,
  join: (room, id) => `42${id}${JSON.stringify(['room.join', { type: 'room.join', id: `j${id}`, room }])}`,
  send: (room, id, text) => `42${id}${JSON.stringify(['chat.send', { type: 'chat.send', id: `m${id}`, room, text }])}`,
  classify(buf, start, end) {
    const c0 = buf[start];
    if (end - start === 1 && c0 === 0x32) return 'ping';
    if (c0 === 0x30) return 'open';
    if (has(buf, start, SIO_BW_MSG)) return 'message';
    if (has(buf, start, SIO_ACK)) {
      // `43<digits>[{"type":"ack"|"error",...}]`
      let i = start + 2;
      while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
      return has(buf, i, SIO_BW_ACK_ERROR) ? 'error' : 'ack';
    }
    // The Socket.IO CONNECT (`40{"sid":...}`) precedes Bulwark's `welcome`, which ends the handshake.
    if (has(buf, start, SIO_BW_WELCOME)) return 'welcome';
    if (has(buf, start, SIO_BW_ERROR)) return 'error';
    if (has(buf, start, SIO_REFUSED)) return 'refused';
    return 'other';
  },
};

export const PROTOCOLS: Record<string, ClientProtocol> = {
  bulwark: jsonFrames('bulwark', '/ws', ['bulwark.v1'], true),
  raw: jsonFrames('raw', '/ws', ['bulwark.v1'], false),
  'socketio-seed': socketIoSeed,
  'bulwark-socketio': bulwarkSocketIo,
};
