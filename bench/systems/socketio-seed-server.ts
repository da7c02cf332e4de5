/**
 * socketio-seed: Socket.IO with the middleware of the usual tutorial recipes (the "seed" setup), as a
 * user following them would assemble it: origin allow-list, `jsonwebtoken` auth middleware,
 * Map-of-arrays connection and message rate limits, connection caps, packet size limit, `joi`
 * schema validation, `sanitize-html`, spam patterns, `io.to(room).emit`.
 *
 * Storage: with `BENCH_SEED_DB=<file>` (system `socketio-seed-store`), each message is saved before
 * it is broadcast and acknowledged, as the seed's `await saveMessage(messageData)` would be written
 * by hand: better-sqlite3, WAL, one synchronous INSERT per message (its own implicit transaction),
 * `synchronous = NORMAL` like Bulwark's store (same durability: a commit survives a process crash).
 * Without it (system `socketio-seed`) nothing is stored. `validateTokenInDB` stays out either way.
 *
 * Adaptations, all in the peer's favour or neutral: the rate-limit numbers are raised so the
 * benchmark is not refused (the seed's 10 per minute), the message window is 1 s (the sliding
 * log is filtered on every message, so its cost grows with the number of entries in the window),
 * the token's `sub` is the user id, and `chat:send` answers through the Socket.IO ack callback
 * so the load generator can measure a round trip.
 * Usage: BENCH_JWT_SECRET=... [BENCH_SEED_DB=file] node --import tsx bench/systems/socketio-seed-server.ts <port>
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server, type Socket } from 'socket.io';
import jwt from 'jsonwebtoken';
import Joi from 'joi';
import sanitizeHtml from 'sanitize-html';
import Database from 'better-sqlite3';

const port = Number(process.argv[2]);
const JWT_SECRET = process.env.BENCH_JWT_SECRET ?? '';
const CONNECT_WINDOW_MS = 60_000;
const CONNECT_MAX_ATTEMPTS = 1_000_000; // seed: 10
const MESSAGE_WINDOW_MS = 1_000; // seed: 60_000
const MESSAGE_MAX = 1_000_000; // seed: 10
const MAX_CONNECTIONS_PER_USER = 5;
const MAX_TOTAL_CONNECTIONS = 20_000; // seed: 10_000; the idle scenario opens 10,000
const MAX_MESSAGE_SIZE = 10 * 1024;

interface MessageData {
  id: string;
  userId: string;
  username: string | undefined;
  message: string;
  roomId: string;
  timestamp: number;
}

/** The seed's `saveMessage`, written by hand on better-sqlite3 (only with BENCH_SEED_DB). */
function openStore(path: string | undefined): ((m: MessageData) => Promise<void>) | undefined {
  if (!path) return undefined;
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, room_id TEXT NOT NULL, user_id TEXT NOT NULL, username TEXT, message TEXT NOT NULL, timestamp INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS messages_room_time ON messages (room_id, timestamp)`);
  const insert = db.prepare('INSERT INTO messages (id, room_id, user_id, username, message, timestamp) VALUES (?, ?, ?, ?, ?, ?)');
  return async function saveMessage(m) {
    insert.run(m.id, m.roomId, m.userId, m.username ?? null, m.message, m.timestamp);
  };
}
const saveMessage = openStore(process.env.BENCH_SEED_DB);

interface SeedSocket extends Socket {
  userId?: string;
  username?: string;
  roles?: string[];
}

const allowedOrigins = [`http://127.0.0.1:${port}`];
const httpServer = createServer();
const io = new Server(httpServer, { transports: ['websocket'], cors: { origin: allowedOrigins, methods: ['GET', 'POST'] } });

io.use((socket, next) => {
  const origin = socket.handshake.headers.origin;
  if (!origin) return next(new Error('Origin header missing'));
  if (!allowedOrigins.includes(origin)) return next(new Error('Unauthorized origin'));
  next();
});

io.use((s, next) => {
  const socket = s as SeedSocket;
  try {
    const token = socket.handshake.auth['token'] || socket.handshake.headers.authorization?.split(' ')[1];
    if (!token) throw new Error('Authentication token required');
    const decoded = jwt.verify(token, JWT_SECRET) as jwt.JwtPayload;
    socket.userId = decoded.sub;
    socket.username = decoded['name'];
    socket.roles = decoded['roles'] || [];
    next();
  } catch {
    next(new Error('Authentication failed'));
  }
});

const connectionAttempts = new Map<string, number[]>();
io.use((socket, next) => {
  const ip = socket.handshake.address;
  const now = Date.now();
  let attempts = connectionAttempts.get(ip) || [];
  attempts = attempts.filter((time) => now - time < CONNECT_WINDOW_MS);
  if (attempts.length >= CONNECT_MAX_ATTEMPTS) return next(new Error('Too many connections'));
  attempts.push(now);
  connectionAttempts.set(ip, attempts);
  next();
});

const userConnections = new Map<string, string[]>();
io.use((s, next) => {
  const socket = s as SeedSocket;
  if (io.engine.clientsCount >= MAX_TOTAL_CONNECTIONS) return next(new Error('Server at capacity'));
  const userSockets = userConnections.get(socket.userId!) || [];
  if (userSockets.length >= MAX_CONNECTIONS_PER_USER) return next(new Error('Maximum connections per user exceeded'));
  next();
});

io.use((socket, next) => {
  socket.use((packet, next) => {
    if (JSON.stringify(packet).length > MAX_MESSAGE_SIZE) {
      socket.emit('error', { message: 'Message size exceeds maximum allowed' });
      return next(new Error('Message too large'));
    }
    next();
  });
  next();
});

const messageLimits = new Map<string, number[]>();
function rateLimit(socket: Socket, eventName: string, maxMessages: number, windowMs: number): boolean {
  const key = `${socket.id}:${eventName}`;
  const now = Date.now();
  let messages = messageLimits.get(key) || [];
  messages = messages.filter((time) => now - time < windowMs);
  if (messages.length >= maxMessages) {
    socket.emit('error', { code: 'RATE_LIMIT_EXCEEDED', message: `Too many ${eventName} events. Please slow down.` });
    return false;
  }
  messages.push(now);
  messageLimits.set(key, messages);
  return true;
}

const chatMessageSchema = Joi.object({
  message: Joi.string().min(1).max(1000).required(),
  roomId: Joi.string()
    .pattern(/^[a-zA-Z0-9-_]+$/)
    .required(),
  replyTo: Joi.string().optional(),
});

function isSpam(message: string): boolean {
  const spamPatterns = [/(?:https?:\/\/){2,}/i, /(.)\1{10,}/, /\b(?:buy now|click here|free money)\b/i];
  return spamPatterns.some((pattern) => pattern.test(message));
}

type Ack = ((reply: unknown) => void) | undefined;

io.on('connection', (s) => {
  const socket = s as SeedSocket;
  const userId = socket.userId!;
  const userSockets = userConnections.get(userId) || [];
  userSockets.push(socket.id);
  userConnections.set(userId, userSockets);

  socket.on('room:join', (roomId: unknown, ack: Ack) => {
    if (typeof roomId !== 'string') return ack?.({ error: 'bad room' });
    void socket.join(roomId);
    ack?.({ ok: true });
  });

  socket.on('chat:send', async (data: unknown, ack: Ack) => {
    try {
      if (!rateLimit(socket, 'chat:send', MESSAGE_MAX, MESSAGE_WINDOW_MS)) return ack?.({ error: 'RATE_LIMIT_EXCEEDED' });
      const { error, value } = chatMessageSchema.validate(data);
      if (error) {
        socket.emit('error', { message: 'Invalid message format', details: error.details });
        return ack?.({ error: 'Invalid message format' });
      }
      const sanitizedMessage = sanitizeHtml(value.message, { allowedTags: ['b', 'i', 'em', 'strong'], allowedAttributes: {}, disallowedTagsMode: 'escape' });
      if (!sanitizedMessage.trim()) {
        socket.emit('error', { message: 'Empty message' });
        return ack?.({ error: 'Empty message' });
      }
      if (isSpam(sanitizedMessage)) {
        socket.emit('error', { message: 'Spam detected' });
        return ack?.({ error: 'Spam detected' });
      }
      const messageData: MessageData = {
        id: randomUUID(),
        userId,
        username: socket.username,
        message: sanitizedMessage,
        roomId: value.roomId,
        timestamp: Date.now(),
      };
      if (saveMessage) await saveMessage(messageData);
      io.to(value.roomId).emit('chat:message', messageData);
      ack?.({ id: messageData.id, ts: messageData.timestamp });
    } catch {
      socket.emit('error', { message: 'Internal error' });
      ack?.({ error: 'Internal error' });
    }
  });

  socket.on('disconnect', () => {
    const sockets = userConnections.get(userId) || [];
    const index = sockets.indexOf(socket.id);
    if (index > -1) sockets.splice(index, 1);
    if (sockets.length === 0) userConnections.delete(userId);
    else userConnections.set(userId, sockets);
    messageLimits.delete(`${socket.id}:chat:send`);
  });
});

httpServer.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
