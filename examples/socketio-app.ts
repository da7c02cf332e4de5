/**
 * An existing Socket.IO chat app, with Bulwark's defences added by `bulwark/guard`: origin,
 * handshake rate and caps, JWT in `auth.token`, then per-event size, schema, rate, replay,
 * sanitization and spam checks. Run: BULWARK_JWT_SECRET=... npx tsx examples/socketio-app.ts
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Server } from 'socket.io';
import { z } from 'zod';
import { createGuard, type ConfigInput } from '../src/embed/index.js';

const ChatSend = z.strictObject({ id: z.string().regex(/^[\w-]{1,64}$/), room: z.string().regex(/^[\w-]{1,64}$/), text: z.string().max(4000), ts: z.number().int().optional() });
const Join = z.strictObject({ room: z.string().regex(/^[\w-]{1,64}$/) });

export async function start(config: ConfigInput, port = 0) {
  const guard = await createGuard(config);
  guard.onEvent((event) => console.log('security event', event.type, event.ip ?? '', event.user ?? ''));
  const http = createServer();
  const io = new Server(http, guard.socketioOptions);
  io.use(guard.socketio());

  io.on('connection', (socket) => {
    socket.on(
      'room:join',
      guard.wrap(
        socket,
        async ({ room }: z.infer<typeof Join>) => {
          await socket.join(room);
          return { room };
        },
        { schema: Join },
      ),
    );
    // `type: 'chat.send'` gives this event the chat defences: idempotency by id, sanitized text, spam rules.
    socket.on(
      'chat:send',
      guard.wrap(
        socket,
        (msg: z.infer<typeof ChatSend>, ctx) => {
          if (!socket.rooms.has(msg.room)) throw new Error('not a member');
          io.to(msg.room).emit('chat:message', { room: msg.room, from: ctx.user.id, text: msg.text });
          return { delivered: true };
        },
        { schema: ChatSend, type: 'chat.send' },
      ),
    );
  });

  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    guard,
    async close() {
      await guard.close();
      await io.close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const app = await start({ auth: { secret: process.env.BULWARK_JWT_SECRET }, origins: { allowed: ['http://127.0.0.1:3000'] } }, 3000);
  console.log(`socket.io app on ${app.url}`);
}
