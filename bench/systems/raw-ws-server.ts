/**
 * raw-ws: what people write by hand on `ws` — JSON in, JSON out, and the usual broadcast loop.
 * No authentication check, no limits, no validation, no storage: the ceiling.
 * Usage: node --import tsx bench/systems/raw-ws-server.ts <port>
 */
import { WebSocketServer, type WebSocket } from 'ws';

const rooms = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]) });

wss.on('connection', (ws) => {
  const joined = new Set<string>();
  ws.on('message', (data) => {
    let m: { type?: string; id?: string; room?: string; text?: string };
    try {
      m = JSON.parse(String(data));
    } catch {
      return;
    }
    if (m.type === 'auth') {
      ws.send(JSON.stringify({ type: 'welcome' }));
    } else if (m.type === 'room.join' && m.room) {
      if (!rooms.has(m.room)) rooms.set(m.room, new Set());
      rooms.get(m.room)!.add(ws);
      joined.add(m.room);
      ws.send(JSON.stringify({ type: 'ack', id: m.id }));
    } else if (m.type === 'chat.send' && m.room) {
      ws.send(JSON.stringify({ type: 'ack', id: m.id, ts: Date.now() }));
      const out = JSON.stringify({ type: 'chat.message', room: m.room, message: { text: m.text, ts: Date.now() } });
      for (const c of rooms.get(m.room) ?? []) c.send(out);
    }
  });
  ws.on('close', () => {
    for (const r of joined) rooms.get(r)?.delete(ws);
  });
});

process.on('SIGTERM', () => process.exit(0));
