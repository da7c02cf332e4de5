/**
 * The server API's endpoints through a real node (docs/protocol.md "Server API"): a publish is a
 * `chat.send` on the wire (same `chat.message` shape, same sanitization and active-content
 * events, same spam rules, the room's next `seq`, durable history), idempotent with
 * `Idempotency-Key`; broadcast reaches every connection; history pages as `chat.history`;
 * disconnect closes every connection of the user; strict schemas; the bounded audit.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ACTIVE_VECTORS } from '../fixtures/xss-vectors.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { EventRecorder, storedEvents } from '../helpers/events.js';
import { call, LOOSE, newKey, type TestKey } from './support.js';

const CONFIG = {
  rateLimits: { api: LOOSE, handshake: LOOSE, default: LOOSE, 'chat.send': LOOSE },
  // The suite sends every active-content vector on purpose: no ban of the test's own address.
  abuse: { threshold: 1_000_000_000 },
  limits: { maxMessageChars: 500 },
};

describe('server API endpoints', () => {
  let server: TestServer;
  let events: EventRecorder;
  let owner: TestClient;
  let member: TestClient;
  let k: TestKey;
  const publish = (room: string, body: unknown, headers: Record<string, string> = {}, key = k.key): ReturnType<typeof call> =>
    call(server, 'POST', `/api/v1/rooms/${room}/messages`, { key, body, headers });

  before(async () => {
    server = await startServer({ config: CONFIG });
    events = new EventRecorder(server);
    k = await newKey(server);
    owner = await connect(server, 'owner', { name: 'Owner' });
    member = await connect(server, 'member', { name: 'Member' });
    await owner.ok({ type: 'room.create', room: 'lobby', visibility: 'public' });
    await owner.ok({ type: 'room.join', room: 'lobby' });
    await member.ok({ type: 'room.join', room: 'lobby' });
  });
  after(async () => {
    owner.close();
    member.close();
    await server.stop();
  });

  describe('publish', () => {
    it('stores and delivers like chat.send: 201 {message}, the same chat.message shape, the next seq, in history', async () => {
      const sent = await owner.ok({ type: 'chat.send', room: 'lobby', text: 'from a person' });
      const viaWs = await member.next('chat.message');
      const res = await publish('lobby', { text: 'Order #1 shipped' });
      assert.equal(res.status, 201);
      const message = res.body.message as Record<string, unknown>;
      const viaApi = await member.next('chat.message');
      const ownCopy = await owner.waitFor((f) => f.type === 'chat.message' && (f.message as { id: string }).id === message.id);
      assert.deepEqual(viaApi, ownCopy, 'every member, the same frame');
      assert.deepEqual(viaApi, { type: 'chat.message', room: 'lobby', message });
      // Indistinguishable on the wire except the author: the same keys, the next seq.
      assert.deepEqual(Object.keys(viaApi).sort(), Object.keys(viaWs).sort());
      assert.deepEqual(Object.keys(message).sort(), Object.keys(viaWs.message as object).sort());
      assert.equal(message.seq, (sent.message as { seq: number }).seq + 1);
      assert.deepEqual(message.user, { id: 'system', name: 'System' });
      assert.equal(message.text, 'Order #1 shipped');
      assert.equal(typeof message.ts, 'number');
      const history = await owner.ok({ type: 'chat.history', room: 'lobby', after: (sent.message as { seq: number }).seq });
      assert.deepEqual(history.messages, [message]);
    });

    it('sanitizes and reports active content exactly as chat.send does (same stored text, same refusals, xss_attempt under the key)', async () => {
      const vectors = ACTIVE_VECTORS.slice(0, 60);
      let compared = 0;
      for (const [i, vector] of vectors.entries()) {
        const text = `${vector} #${i}`;
        const ws = await owner.request({ type: 'chat.send', room: 'lobby', text });
        const mark = events.mark();
        const api = await publish('lobby', { text });
        if (ws.type === 'error') {
          assert.equal(api.body.error, ws.code, `refused alike: ${JSON.stringify(text)}`);
          continue;
        }
        assert.equal(api.status, 201, JSON.stringify(api.body));
        const [wsStored, apiStored] = await Promise.all(
          [(ws.message as { seq: number }).seq, (api.body.message as { seq: number }).seq].map(async (seq) => {
            const page = await owner.ok({ type: 'chat.history', room: 'lobby', after: seq - 1, limit: 1 });
            return (page.messages as Array<{ text: string }>)[0]!.text;
          }),
        );
        assert.equal(apiStored, wsStored, `same sanitized text for ${JSON.stringify(text)}`);
        assert.equal((api.body.message as { text: string }).text, wsStored);
        const xss = events.since(mark, 'xss_attempt');
        assert.equal(xss.length, 1, `xss_attempt for ${JSON.stringify(text)}`);
        assert.equal(xss[0]!.user, `apikey:${k.record.id}`);
        compared++;
      }
      assert.ok(compared > 30, `${compared} vectors compared`);
      // Drain what the members received meanwhile.
      owner.frames.length = 0;
      member.frames.length = 0;
    });

    it('applies the spam rules (SPAM, 422) and the length rule (400, details at body.text), storing nothing', async () => {
      const spamKey = await newKey(server, ['publish']);
      const before = member.frames.length;
      const run = await publish('lobby', { text: 'a'.repeat(30) }, {}, spamKey.key);
      assert.equal(run.status, 422);
      assert.equal(run.body.error, 'SPAM');
      const links = await publish('lobby', { text: 'http://a.example http://b.example http://c.example http://d.example' }, {}, spamKey.key);
      assert.equal(links.body.error, 'SPAM');
      const long = await publish('lobby', { text: 'x '.repeat(400) }, {}, spamKey.key);
      assert.equal(long.status, 400);
      assert.equal(long.body.error, 'INVALID_PAYLOAD');
      assert.deepEqual(long.body.details, [{ path: 'body.text', message: 'must be at most 500 characters' }]);
      const blank = await publish('lobby', { text: '   ' }, {}, spamKey.key);
      assert.equal(blank.status, 400);
      assert.ok(await member.quiet((f) => f.type === 'chat.message', 200));
      assert.equal(member.frames.length, before);
    });

    it('mutes a key that keeps tripping the spam rules, saying until when', async () => {
      const spammer = await newKey(server, ['publish']);
      let last;
      for (let i = 0; i < 3; i++) last = await publish('lobby', { text: `${'z'.repeat(30)}${i}` }, {}, spammer.key);
      assert.equal(last!.status, 422);
      assert.match(String(last!.body.message), /muted/);
      assert.ok(Number(last!.body.retryAfterMs) > 0);
      assert.ok(Number(last!.headers.get('retry-after')) >= 1);
      // Muted: even a fine message is refused; another key is not.
      assert.equal((await publish('lobby', { text: 'a fine message' }, {}, spammer.key)).body.error, 'SPAM');
      assert.equal((await publish('lobby', { text: 'a fine message' })).status, 201);
      await member.next('chat.message');
      await owner.next('chat.message');
    });

    it('answers a repeated Idempotency-Key with the first message (200, duplicate) and stores nothing twice; keys are per API key', async () => {
      const first = await publish('lobby', { text: 'exactly once' }, { 'Idempotency-Key': 'order-42' });
      assert.equal(first.status, 201);
      await member.next('chat.message');
      const again = await publish('lobby', { text: 'exactly once' }, { 'Idempotency-Key': 'order-42' });
      assert.equal(again.status, 200);
      assert.equal(again.body.duplicate, true);
      assert.deepEqual(again.body.message, first.body.message);
      assert.ok(await member.quiet((f) => f.type === 'chat.message', 200), 'nothing delivered twice');
      const other = await newKey(server, ['publish']);
      const otherFirst = await publish('lobby', { text: 'exactly once, other backend' }, { 'Idempotency-Key': 'order-42' }, other.key);
      assert.equal(otherFirst.status, 201);
      await member.next('chat.message');
      const bad = await publish('lobby', { text: 'x' }, { 'Idempotency-Key': 'not ok!' });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body.details, [{ path: 'headers.idempotency-key', message: 'must be 1-64 characters of A-Z a-z 0-9 _ -' }]);
      owner.frames.length = 0;
    });

    it('posts as a named user, with the display-name rules applied to the name', async () => {
      const res = await publish('lobby', { text: 'hi from the shop', user: { id: 'shop-bot', name: ' Shop\u202E  Bot ' } });
      assert.equal(res.status, 201);
      assert.deepEqual((res.body.message as { user: unknown }).user, { id: 'shop-bot', name: 'Shop Bot' });
      const frame = await member.next('chat.message');
      assert.deepEqual((frame.message as { user: unknown }).user, { id: 'shop-bot', name: 'Shop Bot' });
      const invisible = await publish('lobby', { text: 'x', user: { id: 'a', name: '\u200B' } });
      assert.equal(invisible.status, 400);
      owner.frames.length = 0;
    });

    it('reaches private rooms (the key is trusted) but only their members; an unknown room is 404', async () => {
      await owner.ok({ type: 'room.create', room: 'staff', visibility: 'private' });
      await owner.ok({ type: 'room.join', room: 'staff' });
      const res = await publish('staff', { text: 'for staff only' });
      assert.equal(res.status, 201);
      const got = await owner.waitFor((f) => f.type === 'chat.message' && f.room === 'staff');
      assert.equal((got.message as { text: string }).text, 'for staff only');
      assert.ok(await member.quiet((f) => f.type === 'chat.message' && f.room === 'staff', 200));
      const missing = await publish('no-such-room', { text: 'hello?' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'NOT_FOUND');
    });
  });

  describe('strict schemas', () => {
    it('refuses unknown fields, wrong types, missing fields and bad parameters with 400 INVALID_PAYLOAD, details and an invalid_payload event', async () => {
      const cases: Array<[string, 'GET' | 'POST', string, unknown, string]> = [
        ['unknown body field', 'POST', '/api/v1/rooms/lobby/messages', { text: 'x', html: true }, 'body.html'],
        ['unknown nested field', 'POST', '/api/v1/rooms/lobby/messages', { text: 'x', user: { id: 'a', name: 'b', admin: true } }, 'body.user.admin'],
        ['text not a string', 'POST', '/api/v1/rooms/lobby/messages', { text: 5 }, 'body.text'],
        ['text missing', 'POST', '/api/v1/rooms/lobby/messages', {}, 'body.text'],
        ['bad room name', 'POST', '/api/v1/rooms/no%20spaces/messages', { text: 'x' }, 'params.room'],
        ['unknown query field', 'GET', '/api/v1/rooms/lobby/history?limit=5&sort=desc', undefined, 'querystring.sort'],
        ['limit over 100', 'GET', '/api/v1/rooms/lobby/history?limit=101', undefined, 'querystring.limit'],
        ['limit not a number', 'GET', '/api/v1/rooms/lobby/history?limit=ten', undefined, 'querystring.limit'],
        ['broadcast extra field', 'POST', '/api/v1/broadcast', { text: 'x', from: 'CEO' }, 'body.from'],
        ['disconnect code outside the range', 'POST', '/api/v1/users/u/disconnect', { code: 1001 }, 'body.code'],
        ['disconnect reason not ASCII', 'POST', '/api/v1/users/u/disconnect', { reason: 'tsch\u00fcss' }, 'body.reason'],
      ];
      for (const [name, method, path, body, at] of cases) {
        const mark = events.mark();
        const res = await call(server, method, path, { key: k.key, body });
        assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error, 'INVALID_PAYLOAD', name);
        const details = res.body.details as Array<{ path: string }>;
        assert.ok(
          details.some((d) => d.path === at),
          `${name}: ${JSON.stringify(details)}`,
        );
        const ev = events.since(mark, 'invalid_payload');
        assert.equal(ev.length, 1, name);
        assert.equal(ev[0]!.user, `apikey:${k.record.id}`);
      }
    });

    it('refuses a body that is not JSON, or JSON under another media type, with 400/415', async () => {
      const notJson = await call(server, 'POST', '/api/v1/broadcast', { key: k.key, body: '{"text":', headers: { 'content-type': 'application/json' } });
      assert.equal(notJson.status, 400);
      assert.equal(notJson.body.error, 'BAD_REQUEST');
      const form = await call(server, 'POST', '/api/v1/broadcast', { key: k.key, body: 'text=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(form.status, 415);
      assert.equal(form.body.error, 'BAD_REQUEST');
      // Plain text parses as a string, which is not the object the schema wants.
      const textPlain = await call(server, 'POST', '/api/v1/broadcast', { key: k.key, body: '{"text":"x"}', headers: { 'content-type': 'text/plain' } });
      assert.equal(textPlain.status, 400);
      assert.equal(textPlain.body.error, 'INVALID_PAYLOAD');
      const proto = await call(server, 'POST', '/api/v1/broadcast', { key: k.key, body: '{"text":"x","__proto__":{"admin":true}}' });
      assert.equal(proto.status, 400);
    });

    it('leaves the other routes as they were (the admin API still ignores what its schema does not name)', async () => {
      const res = await call(server, 'POST', '/api/auth/login', { body: { username: 'nobody', password: 'wrong password!', extra: 1 }, headers: { origin: server.origin } });
      assert.notEqual(res.body.error, 'INVALID_PAYLOAD');
    });
  });

  describe('broadcast', () => {
    it('announces from the system identity to every connection, in a room or not, sanitized; an admin_action row', async () => {
      const idle = await connect(server, 'idle');
      const res = await call(server, 'POST', '/api/v1/broadcast', { key: k.key, body: { text: 'Maintenance at <b>22:00</b> <script>x()</script>' } });
      assert.equal(res.status, 202);
      for (const client of [owner, member, idle]) {
        const a = await client.next('announcement');
        assert.deepEqual(a, { type: 'announcement', text: 'Maintenance at <b>22:00</b> &lt;script&gt;x()&lt;/script&gt;', from: 'System', ts: res.body.ts });
      }
      idle.close();
      const rows = (await storedEvents(server, 'admin_action')).filter((e) => e.detail?.action === 'broadcast');
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.detail?.by, 'api');
      assert.equal(rows[0]!.detail?.key, k.record.id);
    });
  });

  describe('history', () => {
    it('pages like chat.history: ascending seq, before/after/limit, hasMore, deleted messages as such; unknown room 404', async () => {
      await owner.ok({ type: 'room.create', room: 'paged', visibility: 'private' });
      await owner.ok({ type: 'room.join', room: 'paged' });
      const ids: string[] = [];
      for (let i = 1; i <= 5; i++) ids.push(((await owner.ok({ type: 'chat.send', room: 'paged', text: `m${i}` })).message as { id: string }).id);
      await owner.ok({ type: 'chat.delete', room: 'paged', message: ids[1] });
      const get = (qs: string): ReturnType<typeof call> => call(server, 'GET', `/api/v1/rooms/paged/history${qs}`, { key: k.key });
      const all = await get('');
      assert.equal(all.status, 200);
      const ws = await owner.ok({ type: 'chat.history', room: 'paged' });
      assert.deepEqual(all.body, { room: 'paged', messages: ws.messages, hasMore: false });
      const msgs = all.body.messages as Array<{ seq: number; text?: string; deleted?: boolean }>;
      assert.deepEqual(
        msgs.map((m) => m.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(msgs[1]!.deleted, true);
      assert.equal(msgs[1]!.text, undefined);
      const page = await get('?before=5&limit=2');
      assert.deepEqual(
        (page.body.messages as Array<{ seq: number }>).map((m) => m.seq),
        [3, 4],
      );
      assert.equal(page.body.hasMore, true);
      const later = await get('?after=3');
      assert.deepEqual(
        (later.body.messages as Array<{ seq: number }>).map((m) => m.seq),
        [4, 5],
      );
      assert.equal((await call(server, 'GET', '/api/v1/rooms/nowhere/history', { key: k.key })).status, 404);
      owner.frames.length = 0;
    });
  });

  describe('presence', () => {
    it('lists the users with a live connection joined to the room, as the presence frame does; unknown room 404', async () => {
      const onlooker = await connect(server, 'onlooker');
      const res = await call(server, 'GET', '/api/v1/rooms/lobby/presence', { key: k.key });
      assert.equal(res.status, 200);
      const byId = (a: { id: string }, b: { id: string }): number => a.id.localeCompare(b.id);
      const members = (res.body.members as Array<{ id: string; name: string }>).sort(byId);
      assert.deepEqual(members, [
        { id: 'member', name: 'Member' },
        { id: 'owner', name: 'Owner' },
      ]);
      const frame = await owner.ok({ type: 'presence', room: 'lobby' });
      assert.deepEqual((frame.members as Array<{ id: string }>).sort(byId), members);
      assert.equal((await call(server, 'GET', '/api/v1/rooms/nowhere/presence', { key: k.key })).status, 404);
      onlooker.close();
      owner.frames.length = 0;
      member.frames.length = 0;
    });
  });

  describe('disconnect', () => {
    it('closes every connection of the user (default 4403), leaves others open, and records an admin_action', async () => {
      const a1 = await connect(server, 'target');
      const a2 = await connect(server, 'target');
      const bystander = await connect(server, 'bystander');
      const res = await call(server, 'POST', '/api/v1/users/target/disconnect', { key: k.key });
      assert.equal(res.status, 202);
      assert.deepEqual(res.body, { user: 'target', code: 4403, reason: 'disconnected by the service' });
      for (const c of [a1, a2]) assert.deepEqual(await c.closed, { code: 4403, reason: 'disconnected by the service' });
      assert.equal((await bystander.ok({ type: 'room.list' })).type, 'ack');
      bystander.close();
      const rows = (await storedEvents(server, 'admin_action')).filter((e) => e.detail?.action === 'disconnect');
      assert.equal(rows.at(-1)?.detail?.target, 'target');
    });

    it('uses the code and reason given, and handles ids that need escaping', async () => {
      const c = await connect(server, 'acct:someone');
      const res = await call(server, 'POST', `/api/v1/users/${encodeURIComponent('acct:someone')}/disconnect`, { key: k.key, body: { code: 4000, reason: 'account closed' } });
      assert.equal(res.status, 202);
      assert.deepEqual(await c.closed, { code: 4000, reason: 'account closed' });
    });
  });

  describe('audit', () => {
    it('counts successful calls on the key (uses, lastUsedAt) and aggregates them into api_call rows, not one row per call', async () => {
      const audited = await newKey(server, ['history']);
      for (let i = 0; i < 7; i++) assert.equal((await call(server, 'GET', '/api/v1/rooms/lobby/history?limit=1', { key: audited.key })).status, 200);
      const rows = (await storedEvents(server, 'api_call')).filter((e) => e.user === `apikey:${audited.record.id}`);
      // One row per key, address and minute (two when the calls straddle a minute).
      assert.ok(rows.length >= 1 && rows.length <= 2, `${rows.length} rows`);
      assert.equal(
        rows.reduce((n, r) => n + (r.count ?? 1), 0),
        7,
      );
      assert.equal(rows[0]!.severity, 'info');
      const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
      assert.match(metrics, /bulwark_api_requests_total\{operation="history",status="200"\} \d+/);
      assert.match(metrics, /bulwark_api_requests_total\{operation="publish",status="201"\} \d+/);
    });

    it('writes the use count and last use to the key row (flushed on shutdown at the latest)', async () => {
      const audited = await newKey(server, ['history']);
      for (let i = 0; i < 3; i++) await call(server, 'GET', '/api/v1/rooms/lobby/history?limit=1', { key: audited.key });
      const restarted = await server.restart();
      try {
        const row = (await restarted.bulwark.store.listApiKeys(100)).find((r) => r.id === audited.record.id)!;
        assert.equal(row.uses, 3);
        assert.ok(row.lastUsedAt !== null && row.lastUsedAt >= audited.record.createdAt);
        assert.equal(row.hash.length, 64, 'only the hash is stored');
        assert.ok(!JSON.stringify(await restarted.bulwark.store.listApiKeys(100)).includes(audited.key));
      } finally {
        await restarted.stop();
        rmSync(restarted.dataDir, { recursive: true, force: true });
      }
    });
  });
});
