/**
 * Identities that cannot collide (docs/protocol.md "Identities"): a built-in account is
 * `acct:<username>`, a token subject is used as it is, and no issuer but the server's own key can
 * name an `acct:` subject. The attack this stops: a token subject `opsbot` owns a private room with
 * a secret in it; someone registers the username `opsbot` and must get nothing of it.
 * Existing databases migrate: accounts move to the namespace with their rooms, memberships and
 * messages; what a same-named token subject had before the account existed stays with it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations/sqlite.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, openSocket, type TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf } from '../handshake/support.js';

async function register(server: TestServer, username: string, password: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.origin },
    body: JSON.stringify({ username, password }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function withAccessToken(server: TestServer, accessToken: string): Promise<TestClient> {
  const client = await openSocket(server);
  client.send({ type: 'auth', token: accessToken });
  client.welcome = await client.next('welcome');
  return client;
}

describe('identity takeover across namespaces', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, accounts: { registration: 'open' } } });
  });
  after(() => server.stop());

  it('registering the username of a token subject yields a different identity that gets none of its rooms or history', async () => {
    // An operator bot, authenticated by `bulwark token --sub opsbot`, keeps a secret in a private room.
    const bot = await connect(server, 'opsbot', { name: 'Ops bot' });
    await bot.ok({ type: 'room.create', room: 'ops-secrets', visibility: 'private' });
    await bot.ok({ type: 'room.join', room: 'ops-secrets' });
    await bot.ok({ type: 'chat.send', room: 'ops-secrets', text: 'the root password is hunter2' });

    // Someone registers the same name.
    const reg = await register(server, 'opsbot', 'a long and fine passphrase');
    assert.equal(reg.status, 201);
    const user = reg.body.user as { id: string; name: string };
    assert.equal(user.id, 'acct:opsbot', 'the account lives in its own namespace');
    assert.equal(user.name, 'opsbot', 'the username stays the display handle');
    const impostor = await withAccessToken(server, reg.body.accessToken as string);
    assert.deepEqual(impostor.welcome?.user, { id: 'acct:opsbot', name: 'opsbot', roles: [] });

    // It can neither see, join, read nor manage the bot's room.
    const list = await impostor.ok({ type: 'room.list' });
    assert.ok(!(list.rooms as Array<{ name: string }>).some((r) => r.name === 'ops-secrets'));
    for (const frame of [
      { type: 'room.join', room: 'ops-secrets' },
      { type: 'chat.history', room: 'ops-secrets' },
      { type: 'chat.send', room: 'ops-secrets', text: 'I am the bot now' },
      { type: 'room.invite', room: 'ops-secrets', user: 'acct:opsbot' },
      { type: 'room.delete', room: 'ops-secrets' },
    ]) {
      const reply = await impostor.request(frame);
      assert.equal(reply.type, 'error', `${frame.type} must be refused`);
      assert.ok(!JSON.stringify(reply).includes('hunter2'));
    }
    // The bot still owns its room and reads its history.
    const history = await bot.ok({ type: 'chat.history', room: 'ops-secrets' });
    assert.equal((history.messages as Array<{ text: string }>)[0]?.text, 'the root password is hunter2');
    bot.close();
    impostor.close();
  });

  it("accepts acct: subjects signed with the server's own key: it is the accounts' issuer", async () => {
    const client = await connect(server, 'acct:opsbot');
    assert.equal((client.welcome?.user as { id: string }).id, 'acct:opsbot');
    client.close();
  });
});

describe('an outside issuer cannot name a built-in account', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  let sign: (sub: string) => Promise<string>;
  before(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    sign = (sub) => new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(pair.privateKey);
    server = await startServer({ config: { ...ROOMY, auth: { algorithms: ['RS256'], publicKey: await exportSPKI(pair.publicKey) } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('refuses a subject in the acct: namespace (any case) with 4401 and auth_failed reason reserved_subject', async () => {
    for (const sub of ['acct:alice', 'ACCT:alice', 'Acct:admin']) {
      const mark = recorder.mark();
      const client = await openSocket(server);
      client.send({ type: 'auth', token: await sign(sub) });
      assert.equal((await closeOf(client)).code, 4401, sub);
      const events = recorder.since(mark);
      assert.deepEqual(
        events.map((e) => [e.type, e.detail?.reason]),
        [['auth_failed', 'reserved_subject']],
      );
    }
  });

  it('accepts its ordinary subjects, including ones that merely contain a colon later on', async () => {
    for (const sub of ['alice', 'user|42', 'mailto-alice:x']) {
      const client = await openSocket(server);
      client.send({ type: 'auth', token: await sign(sub) });
      const welcome = await client.next('welcome');
      assert.equal((welcome.user as { id: string }).id, sub);
      client.close();
    }
  });
});

describe('migrating a database from before the namespaces', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-migrate-'));
    const db = new Database(join(dir, 'bulwark.db'));
    // The schema as the release before the namespaces shipped it (every earlier migration, key
    // checks included), with data keyed by usernames.
    const version = SQLITE_MIGRATIONS.findIndex((sql) => sql.includes("UPDATE users SET id = 'acct:'"));
    assert.ok(version > 0, 'the identity migration exists');
    for (const sql of SQLITE_MIGRATIONS.slice(0, version)) db.exec(sql);
    db.pragma(`user_version = ${version}`);
    const user = db.prepare("INSERT INTO users (id, name, password_hash, roles, created_at) VALUES (?, ?, 'scrypt$x', ?, ?)");
    user.run('alice', 'alice', '["admin"]', 1000);
    user.run('opsbot', 'opsbot', '[]', 5000);
    const room = db.prepare('INSERT INTO rooms (name, owner, visibility, created_at, last_seq) VALUES (?, ?, ?, ?, ?) RETURNING id');
    const aliceRoom = room.pluck().get('alice-room', 'alice', 'private', 2000, 1) as number;
    const secret = room.pluck().get('ops-secrets', 'opsbot', 'private', 1000, 1) as number;
    const later = room.pluck().get('ops-later', 'opsbot', 'public', 6000, 1) as number;
    const lobby = room.pluck().get('lobby', 'carol', 'public', 500, 2) as number;
    const member = db.prepare("INSERT INTO members (room_id, user_id, state) VALUES (?, ?, 'member')");
    for (const [r, u] of [
      [aliceRoom, 'alice'],
      [secret, 'opsbot'],
      [later, 'opsbot'],
      [lobby, 'alice'],
      [lobby, 'carol'],
    ] as const)
      member.run(r, u);
    const message = db.prepare('INSERT INTO messages (room_id, seq, id, user_id, user_name, body, key_id, ts) VALUES (?, ?, ?, ?, ?, CAST(? AS BLOB), NULL, ?)');
    message.run(aliceRoom, 1, 'm-alice', 'alice', 'alice', 'mine', 3000);
    message.run(secret, 1, 'm-bot', 'opsbot', 'Ops bot', 'the secret', 1500);
    message.run(later, 1, 'm-acct', 'opsbot', 'opsbot', 'after registering', 7000);
    message.run(lobby, 1, 'm-carol', 'carol', 'carol', 'hello', 600);
    message.run(lobby, 2, 'm-alice-2', 'alice', 'alice', 'hi carol', 3100);
    db.prepare('INSERT INTO refresh_tokens (hash, family, user_id, expires_at) VALUES (?, ?, ?, ?)').run('h', 'f', 'alice', Date.now() + 60_000);
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('moves accounts, their rooms, memberships, messages and refresh tokens to acct: ids; older data of a same-named token subject stays', async () => {
    const store = new SqliteStore({ path: join(dir, 'bulwark.db'), checkpointIntervalMs: 0 });
    try {
      assert.deepEqual(await store.getUser('acct:alice'), { id: 'acct:alice', name: 'alice', passwordHash: 'scrypt$x', roles: ['admin'], createdAt: 1000, disabled: false });
      assert.equal(await store.getUser('alice'), undefined);
      assert.equal((await store.getRoom('alice-room'))?.owner, 'acct:alice');
      assert.equal((await store.getRoom('ops-secrets'))?.owner, 'opsbot', 'created before the account: the token subject keeps it');
      assert.equal((await store.getRoom('ops-later'))?.owner, 'acct:opsbot');
      assert.equal((await store.getRoom('lobby'))?.owner, 'carol');
      const lobby = (await store.getRoom('lobby'))!;
      assert.equal(await store.getMembership(lobby.id, 'acct:alice'), 'member');
      assert.equal(await store.getMembership(lobby.id, 'alice'), undefined);
      assert.equal(await store.getMembership(lobby.id, 'carol'), 'member');
      const secret = (await store.getRoom('ops-secrets'))!;
      assert.equal(await store.getMembership(secret.id, 'opsbot'), 'member');
      assert.equal(await store.getMembership(secret.id, 'acct:opsbot'), undefined);
      const messages = (await store.history(lobby.id, { limit: 10 })).messages.map((m) => [m.id, m.userId]);
      assert.deepEqual(messages, [
        ['m-carol', 'carol'],
        ['m-alice-2', 'acct:alice'],
      ]);
      assert.equal((await store.history(secret.id, { limit: 10 })).messages[0]?.userId, 'opsbot');
      assert.equal((await store.history((await store.getRoom('ops-later'))!.id, { limit: 10 })).messages[0]?.userId, 'acct:opsbot');
      assert.equal((await store.getRefreshToken('h'))?.userId, 'acct:alice');
    } finally {
      await store.close();
    }
  });

  it('a server on the migrated data: the account still reaches its rooms, the token subject its own', async () => {
    const server = await startServer({ dataDir: dir, config: { ...ROOMY, encryption: { enabled: false } } });
    try {
      const alice = await connect(server, 'acct:alice', { name: 'alice' });
      const joined = await alice.ok({ type: 'room.join', room: 'alice-room' });
      assert.equal((joined.history as Array<{ text: string }>)[0]?.text, 'mine');
      await alice.ok({ type: 'chat.send', room: 'lobby', text: 'still a member' });
      const bot = await connect(server, 'opsbot');
      const secret = await bot.ok({ type: 'chat.history', room: 'ops-secrets' });
      assert.equal((secret.messages as Array<{ text: string }>)[0]?.text, 'the secret');
      alice.close();
      bot.close();
    } finally {
      await server.stop();
    }
  });
});
