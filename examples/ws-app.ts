/**
 * An existing `ws` chat app, with Bulwark's defences added by `bulwark/guard`: the handshake
 * checks run in `verifyClient` (the JWT arrives as `Authorization: Bearer` or a
 * `bulwark.bearer.<jwt>` subprotocol), then every message goes through the frame defences.
 * Run: BULWARK_JWT_SECRET=... npx tsx examples/ws-app.ts
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { createGuard, type ConfigInput } from '../src/embed/index.js';

export async function start(config: ConfigInput, port = 0) {
  const guard = await createGuard(config);
  guard.onEvent((event) => console.log('security event', event.type, event.ip ?? '', event.user ?? ''));
  const http = createServer();
  const wss = new WebSocketServer({ server: http, ...guard.ws.options });
  const rooms = new Map<string, Set<WebSocket>>();

  wss.on('connection', (ws, req) => {
    if (!guard.ws.accept(ws, req)) return;
    // Messages are contract frames ({type, id, ...}): the guard validates them with the contract schemas.
    ws.on(
      'message',
      guard.wrap(ws, (frame: { type: string; room: string; text?: string }, ctx) => {
        const members = rooms.get(frame.room) ?? new Set<WebSocket>();
        rooms.set(frame.room, members);
        if (frame.type === 'room.join') {
          members.add(ws);
          return { room: frame.room };
        }
        if (frame.type !== 'chat.send' || !members.has(ws)) throw new Error('not allowed');
        const out = JSON.stringify({ type: 'chat.message', room: frame.room, from: ctx.user.id, text: frame.text });
        for (const member of members) member.send(out);
        return { delivered: true };
      }),
    );
    ws.on('close', () => rooms.forEach((members) => members.delete(ws)));
  });

  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    guard,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await guard.close();
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const app = await start({ auth: { secret: process.env.BULWARK_JWT_SECRET }, origins: { allowed: ['http://127.0.0.1:3001'] } }, 3001);
  console.log(`ws app on ${app.url}`);
}
