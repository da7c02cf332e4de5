/**
 * The admin API (`/api/admin/*`, issue 14) through a real server: same-origin only, bearer access
 * token, the admin role from the policy module; stored security events with filters, newest first,
 * paging, a live tail and counts; live connections; and every action (kick, ban and unban user or
 * IP, mute, revoke sessions, disable and enable, invitations, announcements) taking effect on live
 * sockets and recorded as an `admin_action` event.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword } from '../../src/auth/passwords.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus, openSocket, type TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf, eventually } from '../handshake/support.js';
import { sioConnect } from '../socketio/support.js';

const PASSWORD = 'the admin console password';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

describe('admin API', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  let adminToken: string;
  let memberToken: string;

  async function api(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
    const res = await fetch(`${server.url}/api/admin/${path}`, {
      method,
      headers: {
        origin: server.origin,
        ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }
  const get = (path: string, token = adminToken): Promise<Reply> => api('GET', path, { token });
  const post = (path: string, body: unknown, token = adminToken): Promise<Reply> => api('POST', path, { token, body });

  async function login(username: string): Promise<string> {
    const res = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { accessToken: string }).accessToken;
  }

  before(async () => {
    server = await startServer({ config: { ...ROOMY, abuse: { threshold: 1_000_000 }, rateLimits: { ...ROOMY.rateLimits, login: { points: 1000, durationMs: 60_000 } } } });
    recorder = new EventRecorder(server);
    const hash = await hashPassword(PASSWORD);
    await server.bulwark.store.createUser({ id: 'acct:root', name: 'root', passwordHash: hash, roles: ['admin'], createdAt: Date.now() });
    await server.bulwark.store.createUser({ id: 'acct:member', name: 'member', passwordHash: hash, roles: [], createdAt: Date.now() });
    adminToken = await login('root');
    memberToken = await login('member');
  });
  after(() => server.stop());

  describe('who may call it', () => {
    it('answers an admin', async () => {
      const me = await get('me');
      assert.equal(me.status, 200);
      assert.deepEqual((me.body.user as { id: string; admin: boolean }).id, 'acct:root');
      assert.equal(me.body.registration, 'invite');
    });

    it('refuses a missing or forged token with 401, a non-admin with 403 (forbidden_action), and records each', async () => {
      const mark = recorder.mark();
      assert.equal((await api('GET', 'me')).status, 401);
      assert.equal((await get('me', `${adminToken.slice(0, -4)}AAAA`)).status, 401);
      const member = await get('events', memberToken);
      assert.equal(member.status, 403);
      assert.equal(member.body.error, 'FORBIDDEN');
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.api ?? e.detail?.action]),
        [
          ['auth_failed', 'admin'],
          ['auth_failed', 'admin'],
          ['forbidden_action', 'admin.view'],
        ],
      );
    });

    it('is same-origin only: another Origin, or Sec-Fetch-Site cross-site, is refused 403 even with an admin token', async () => {
      assert.equal((await api('GET', 'me', { token: adminToken, headers: { origin: 'https://evil.example' } })).status, 403);
      assert.equal((await api('GET', 'me', { token: adminToken, headers: { 'sec-fetch-site': 'cross-site' } })).status, 403);
      const res = await fetch(`${server.url}/api/admin/me`, { headers: { origin: server.origin, authorization: `Bearer ${adminToken}` } });
      assert.equal(res.headers.get('access-control-allow-origin'), null, 'no CORS');
      await res.arrayBuffer();
    });

    it('refuses the token of a disabled account at once', async () => {
      const other = await hashPassword(PASSWORD);
      await server.bulwark.store.createUser({ id: 'acct:second', name: 'second', passwordHash: other, roles: ['admin'], createdAt: Date.now() });
      const token = await login('second');
      assert.equal((await get('me', token)).status, 200);
      assert.equal((await post('users/disable', { user: 'acct:second' })).status, 200);
      assert.equal((await get('me', token)).status, 401);
      assert.equal((await post('users/disable', { user: 'acct:root' })).status, 400, 'not yourself');
    });
  });

  describe('security events', () => {
    it('lists stored events newest first with aggregated counts, filters by type, severity, user, IP and time, and pages', async () => {
      for (let i = 0; i < 3; i++) assert.equal(await handshakeStatus(server, { origin: `https://probe-${i}.example` }), 403);
      // Repeats from one source are counts on one row, written every few seconds: write them now.
      server.bulwark.audit.flush();
      await server.bulwark.store.flush();
      const all = await get('events?limit=200');
      assert.equal(all.status, 200);
      const events = all.body.events as Array<{ id: number; ts: number; type: string; severity: string; count: number; detail?: Record<string, unknown> }>;
      assert.ok(events.length > 0, 'events listed');
      assert.deepEqual(
        events.map((e) => e.ts),
        [...events.map((e) => e.ts)].sort((a, b) => b - a),
        'newest first',
      );
      const counts = all.body.counts as { total: number; byType: Record<string, number>; bySeverity: Record<string, number> };
      assert.ok(counts.byType.origin_rejected! >= 3, JSON.stringify(counts));
      assert.equal(
        counts.total,
        Object.values(counts.byType).reduce((a, b) => a + b, 0),
      );
      const origin = events.find((e) => e.type === 'origin_rejected')!;
      assert.equal(typeof (origin.detail?.untrusted as Record<string, unknown> | undefined)?.origin, 'string', 'client-chosen text is set apart');

      const onlyOrigin = (await get('events?type=origin_rejected')).body.events as Array<{ type: string }>;
      assert.ok(onlyOrigin.length >= 1 && onlyOrigin.every((e) => e.type === 'origin_rejected'), 'type filter');
      const warnings = (await get('events?severity=warning')).body.events as Array<{ severity: string }>;
      assert.ok(warnings.length > 0 && warnings.every((e) => ['warning', 'error', 'critical'].includes(e.severity)), 'severity filter');
      const member = (await get('events?user=acct:member')).body.events as Array<{ user: string }>;
      assert.ok(member.length > 0 && member.every((e) => e.user === 'acct:member'), 'user filter');
      const byIp = (await get('events?ip=127.0.0.1&limit=5')).body.events as unknown[];
      assert.ok(byIp.length > 0, 'ip filter');
      assert.deepEqual((await get(`events?since=${Date.now() + 60_000}`)).body.events, []);

      const first = await get('events?limit=2');
      const next = first.body.next as string;
      assert.match(next, /^\d+\.\d+$/);
      const second = (await get(`events?limit=2&before=${next}`)).body.events as Array<{ id: number }>;
      const firstIds = (first.body.events as Array<{ id: number }>).map((e) => e.id);
      assert.ok(
        second.every((e) => !firstIds.includes(e.id)),
        'the next page starts after the last one',
      );
      assert.equal((await get('events?limit=500')).status, 400, 'a bad filter is refused');
    });

    it('tails: events recorded after a moment, and rows whose count grew', async () => {
      const now = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(await handshakeStatus(server, { origin: 'https://tail.example' }), 403);
      server.bulwark.audit.flush();
      await server.bulwark.store.flush();
      assert.ok(
        await eventually(async () => ((await get(`events/changes?after=${now}`)).body.events as Array<{ type: string }>).some((e) => e.type === 'origin_rejected')),
        'the new event shows in the tail',
      );
    });
  });

  describe('live connections and actions', () => {
    let carol: TestClient;
    let dave: TestClient;
    before(async () => {
      carol = await connect(server, 'carol', { name: 'Carol' });
      dave = await connect(server, 'dave');
      await carol.ok({ type: 'room.create', room: 'ops', visibility: 'public' });
      await carol.ok({ type: 'room.join', room: 'ops' });
    });

    it('lists live connections with user, IP, transport, since and rooms', async () => {
      const list = await get('connections');
      assert.equal(list.status, 200);
      const connections = list.body.connections as Array<{ id: string; user?: string; name?: string; ip: string; transport: string; since: number; rooms: string[]; node: string }>;
      const c = connections.find((x) => x.user === 'carol')!;
      assert.ok(c, JSON.stringify(connections));
      assert.equal(c.name, 'Carol');
      assert.equal(c.ip, '127.0.0.1');
      assert.equal(c.transport, 'websocket');
      assert.ok(c.since <= Date.now() && c.since > Date.now() - 60_000);
      assert.deepEqual(c.rooms, ['ops']);
      assert.equal(typeof c.node, 'string');
      assert.deepEqual(
        ((await get('connections?user=dave')).body.connections as Array<{ user: string }>).map((x) => x.user),
        ['dave'],
      );
    });

    it('names the transport of a Socket.IO connection socket.io', async () => {
      const sio = await sioConnect(server, 'erin');
      try {
        const listed = (await get('connections?user=erin')).body.connections as Array<{ user: string; transport: string }>;
        assert.deepEqual(
          listed.map((x) => [x.user, x.transport]),
          [['erin', 'socket.io']],
        );
      } finally {
        sio.close();
      }
    });

    it('kicks one connection: it closes 4403 and the action is recorded', async () => {
      const extra = await connect(server, 'dave');
      const id = (extra.welcome!.connectionId as string) ?? '';
      const mark = recorder.mark();
      assert.equal((await post('kick', { connection: id })).status, 200);
      assert.deepEqual(Object.values(await closeOf(extra)), [4403, 'disconnected by an administrator']);
      assert.equal(dave.ws.readyState, dave.ws.OPEN, "the user's other connection stays");
      assert.deepEqual(
        recorder.since(mark, 'admin_action').map((e) => [e.user, e.detail?.action, e.detail?.target, e.detail?.by]),
        [['acct:root', 'kick', id, 'console']],
      );
      assert.equal((await post('kick', {})).status, 400);
    });

    it('mutes a user for a while (SPAM with retryAfterMs) and lifts it', async () => {
      assert.equal((await post('mute', { user: 'carol', durationMs: 60_000 })).status, 200);
      const refused = await carol.request({ type: 'chat.send', room: 'ops', text: 'can anyone hear me' });
      assert.equal(refused.code, 'SPAM');
      assert.ok((refused.retryAfterMs as number) > 50_000);
      assert.equal((await post('mute', { user: 'carol', durationMs: 0 })).status, 200);
      assert.equal((await carol.request({ type: 'chat.send', room: 'ops', text: 'back again' })).type, 'ack');
    });

    it('bans an IP with a duration (listed, new handshakes refused 403) and unbans it', async () => {
      const ban = await post('bans', { kind: 'ip', value: '198.51.100.23', durationMs: 3_600_000, reason: 'probing' });
      assert.equal(ban.status, 200);
      const until = (ban.body.ban as { until: number }).until;
      assert.ok(Math.abs(until - (Date.now() + 3_600_000)) < 5000);
      const listed = (await get('bans')).body.bans as Array<{ kind: string; value: string }>;
      assert.ok(listed.some((b) => b.kind === 'ip' && b.value === '198.51.100.23'));
      assert.equal((await post('bans', { kind: 'ip', value: 'not-an-ip' })).status, 400);
      assert.equal((await post('bans', { kind: 'ip', value: '127.0.0.1' })).status, 400, 'not the admin’s own address');
      assert.equal((await post('bans', { kind: 'user', value: 'acct:root' })).status, 400, 'not the admin’s own account');
      assert.equal((await post('unban', { kind: 'ip', value: '198.51.100.23' })).status, 200);
      assert.ok(!((await get('bans')).body.bans as Array<{ value: string }>).some((b) => b.value === '198.51.100.23'));
      assert.equal((await post('unban', { kind: 'ip', value: '198.51.100.23' })).status, 404);
    });

    it('bans a user: the live connection closes 4403 and a new auth is refused', async () => {
      assert.equal((await post('bans', { kind: 'user', value: 'dave', durationMs: 60_000 })).status, 200);
      assert.equal((await closeOf(dave)).code, 4403);
      const again = await openSocket(server);
      again.send({ type: 'auth', token: await server.token('dave') });
      assert.equal((await closeOf(again)).code, 4403);
      assert.equal((await post('unban', { kind: 'user', value: 'dave' })).status, 200);
    });

    it("revokes a user's sessions: the live connection closes 4401", async () => {
      assert.equal((await post('revoke', { user: 'carol' })).status, 200);
      assert.deepEqual(Object.values(await closeOf(carol)), [4401, 'session revoked']);
    });

    it('disables and enables an account; lists accounts', async () => {
      const token = await login('member');
      const live = await openSocket(server);
      live.send({ type: 'auth', token });
      await live.next('welcome');
      const disabled = await post('users/disable', { user: 'acct:member' });
      assert.equal(disabled.status, 200);
      assert.equal((disabled.body.user as { disabled: boolean }).disabled, true);
      assert.deepEqual(Object.values(await closeOf(live)), [4403, 'account disabled']);
      const users = (await get('users?search=mem')).body.users as Array<{ id: string; disabled: boolean; createdAt: number }>;
      assert.deepEqual(users, [{ id: 'acct:member', name: 'member', roles: [], disabled: true, createdAt: users[0]!.createdAt }]);
      assert.equal((await post('users/enable', { user: 'acct:member' })).status, 200);
      assert.equal((await post('users/disable', { user: 'acct:nobody' })).status, 404);
    });

    it('creates invitation codes (shown once) and lists them without the code', async () => {
      const created = await post('invites', { ttlMs: 3_600_000 });
      assert.equal(created.status, 201);
      assert.match(created.body.code as string, /^bwi_/);
      const listed = await get('invites');
      const text = JSON.stringify(listed.body);
      assert.ok(!text.includes(created.body.code as string));
      assert.ok(
        (listed.body.invites as Array<{ id: string; state: string; createdBy: string }>).some((i) => i.id === created.body.id && i.state === 'open' && i.createdBy === 'acct:root'),
      );
    });

    it('sends an announcement to every connection, sanitized, and refuses an empty one', async () => {
      const listener = await connect(server, 'listener');
      assert.equal((await post('announcements', { text: '  Maintenance at <b>22:00</b> <script>x</script> ' })).status, 200);
      const announcement = await listener.next('announcement');
      assert.equal(announcement.from, 'root');
      assert.equal(announcement.text, 'Maintenance at <b>22:00</b> &lt;script&gt;x&lt;/script&gt;');
      assert.equal((await post('announcements', { text: '   ' })).status, 400);
      listener.close();
    });

    it('reports live numbers: connections, messages and refusals by reason', async () => {
      const stats = await get('stats');
      assert.equal(stats.status, 200);
      assert.equal(typeof stats.body.connections, 'number');
      assert.ok((stats.body.messages as number) >= 1);
      assert.ok(((stats.body.refusals as Record<string, number>)['handshake:origin'] ?? 0) >= 3, JSON.stringify(stats.body.refusals));
    });
  });
});
