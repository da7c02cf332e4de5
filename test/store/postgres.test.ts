/**
 * The store contract against PostgreSQL, plus what only a shared database has: several stores
 * (nodes) appending to one room, concurrent migrations, and whole servers on one database.
 *
 * Database: BULWARK_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test. Every run
 * works in fresh schemas (bulwark_test_<random>_<n>) dropped afterwards. When PostgreSQL is
 * unreachable the suite is skipped with a message, except under CI=true, where it fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresStore, PostgresStoreError } from '../../src/store/postgres-store.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/migrations/postgres.js';
import type { NewMessage, StoredMessage } from '../../src/store/store.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { CI, POSTGRES_URL, postgresUnreachableMessage, testPostgres } from '../helpers/postgres.js';
import { runStoreConformance } from './conformance.js';

const db = await testPostgres();
const unreachable = db.unreachable;

if (unreachable !== undefined) {
  const why = postgresUnreachableMessage(unreachable);
  if (CI) {
    it('PostgreSQL is reachable (required under CI=true)', () => assert.fail(why));
  } else {
    console.error(`# skipping the PostgreSQL store suite: ${why}`);
    it('PostgreSQL store suite', { skip: why }, () => {});
  }
} else {
  const { newSchema, urlFor } = db;
  after(() => db.cleanup());

  runStoreConformance('postgres', async () => {
    const schema = await newSchema();
    return {
      store: await PostgresStore.open({ url: POSTGRES_URL, schema }),
      reopen: () => PostgresStore.open({ url: POSTGRES_URL, schema }),
    };
  });

  let n = 0;
  const message = (roomId: number, text: string): NewMessage => ({
    id: `pg${Date.now().toString(36)}${(++n).toString(36).padStart(6, '0')}`,
    roomId,
    roomName: 'shared',
    userId: 'u',
    userName: 'U',
    text,
    ts: Date.now(),
  });

  describe('postgres: several nodes on one database', () => {
    it('migrates once when many nodes start at the same time', async () => {
      const schema = await newSchema();
      const stores = await Promise.all(Array.from({ length: 6 }, () => PostgresStore.open({ url: POSTGRES_URL, schema })));
      const { rows } = await db.query<{ version: number }>(`SELECT version FROM ${schema}.bulwark_migrations ORDER BY version`);
      assert.deepEqual(
        rows.map((r) => r.version),
        POSTGRES_MIGRATIONS.map((_, i) => i + 1),
      );
      await Promise.all(stores.map((s) => s.close()));
    });

    it('appends from 3 stores to the same rooms: seq stays gap-free, per-store issue order kept', async (t) => {
      const schema = await newSchema();
      const nodes = await Promise.all([0, 1, 2].map(() => PostgresStore.open({ url: POSTGRES_URL, schema })));
      try {
        const a = (await nodes[0]!.createRoom({ name: 'shared', owner: 'u', visibility: 'public', createdAt: 1 }))!;
        const b = (await nodes[1]!.createRoom({ name: 'shared-2', owner: 'u', visibility: 'public', createdAt: 1 }))!;
        const started = performance.now();
        const per = 1000;
        /** Per node: [room id, append] in issue order. */
        const sent: Array<Array<[number, Promise<StoredMessage>]>> = nodes.map(() => []);
        for (let i = 0; i < per; i++) {
          if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
          // Each node writes to both rooms, in opposite orders: row locks must not deadlock.
          for (const [k, node] of nodes.entries()) {
            const [first, second] = k % 2 === 0 ? [a.id, b.id] : [b.id, a.id];
            sent[k]!.push([first, node.appendMessage(message(first, `n${k} ${i}`))]);
            if (i % 2 === 0) sent[k]!.push([second, node.appendMessage(message(second, `n${k} ${i} again`))]);
          }
        }
        const stored = await Promise.all(sent.map((s) => Promise.all(s.map(async ([roomId, p]) => ({ roomId, seq: (await p).seq })))));
        const total = stored.reduce((sum, s) => sum + s.length, 0);
        const ms = performance.now() - started;
        t.diagnostic(`3 stores, 2 rooms: ${total} appends in ${ms.toFixed(0)} ms (${Math.round(total / (ms / 1000))} appends/s)`);
        for (const roomId of [a.id, b.id]) {
          const expected = stored.flat().filter((m) => m.roomId === roomId).length;
          const page = await nodes[2]!.history(roomId, { after: 0, limit: 100_000 });
          assert.deepEqual(
            page.messages.map((m) => m.seq),
            Array.from({ length: expected }, (_, i) => i + 1),
          );
          // A node's own appends to a room keep its issue order.
          for (const s of stored) {
            const seqs = s.filter((m) => m.roomId === roomId).map((m) => m.seq);
            assert.deepEqual(
              seqs,
              [...seqs].sort((x, y) => x - y),
            );
          }
        }
      } finally {
        await Promise.all(nodes.map((s) => s.close()));
      }
    });

    it('sustains batched appends (throughput)', async (t) => {
      const schema = await newSchema();
      const store = await PostgresStore.open({ url: POSTGRES_URL, schema });
      try {
        const r = (await store.createRoom({ name: 'fast', owner: 'u', visibility: 'public', createdAt: 1 }))!;
        const rooms = [r.id];
        for (let i = 0; i < 9; i++) rooms.push((await store.createRoom({ name: `fast-${i}`, owner: 'u', visibility: 'public', createdAt: 1 }))!.id);
        const count = 20_000;
        const started = performance.now();
        // 200 concurrent writers, each awaiting its own append before sending the next.
        let next = 0;
        await Promise.all(
          Array.from({ length: 200 }, async () => {
            while (next < count) {
              const i = next++;
              await store.appendMessage(message(rooms[i % rooms.length]!, `fast ${i} ${'x'.repeat(100)}`));
            }
          }),
        );
        const ms = performance.now() - started;
        t.diagnostic(`postgres store: ${count} appends from 200 writers over 10 rooms in ${ms.toFixed(0)} ms = ${Math.round(count / (ms / 1000))} appends/s`);
        const page = await store.history(r.id, { limit: 5 });
        assert.equal(page.messages.at(-1)!.seq, count / rooms.length);
      } finally {
        await store.close();
      }
    });

    it('history pages are index range scans on (room_id, seq)', async () => {
      const schema = await newSchema();
      const store = await PostgresStore.open({ url: POSTGRES_URL, schema });
      try {
        const client = await db.connect();
        try {
          await client.query(`SET search_path = ${schema}`);
          // 20 rooms x 2000 messages, statistics fresh: the planner has a real choice to make.
          await client.query(`INSERT INTO rooms (name, owner, visibility, created_at, last_seq)
            SELECT 'plan-' || g, 'u', 'public', 0, 2000 FROM generate_series(1, 20) g`);
          await client.query(`INSERT INTO messages (room_id, seq, id, user_id, user_name, body, ts)
            SELECT r.id, s, 'p' || r.id || '-' || s, 'u', 'U', '\\x00'::bytea, s FROM rooms r, generate_series(1, 2000) s`);
          await client.query('ANALYZE rooms, messages');
          // The store's own page query (bw_page_before), with literals.
          const { rows } = await client.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN SELECT r.name AS room_name, m.* FROM rooms r LEFT JOIN LATERAL (
               SELECT id, seq, user_id, user_name, body, key_id, ts, reply_to, deleted FROM messages
               WHERE room_id = r.id AND seq < 1500 ORDER BY seq DESC LIMIT 51
             ) m ON true WHERE r.id = 7`,
          );
          const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
          assert.match(plan, /Index (Only )?Scan Backward using messages_pkey/, plan);
          await client.query('RESET search_path');
        } finally {
          client.release();
        }
      } finally {
        await store.close();
      }
    });
  });

  describe('postgres: errors stay opaque', () => {
    it('a failed write rejects with a PostgresStoreError holding no SQL, values or URL', async () => {
      const schema = await newSchema();
      const store = await PostgresStore.open({ url: POSTGRES_URL, schema });
      try {
        const r = (await store.createRoom({ name: 'opaque', owner: 'u', visibility: 'public', createdAt: 1 }))!;
        const m = await store.appendMessage(message(r.id, 'first'));
        const error = await store.appendMessage({ ...message(r.id, 'secret text'), id: m.id }).then(
          () => assert.fail('duplicate id accepted'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof PostgresStoreError);
        assert.equal(error.code, '23505');
        for (const leak of ['INSERT', 'messages', 'secret', m.id, 'postgres://', schema]) assert.ok(!error.message.includes(leak), error.message);
        assert.ok(!JSON.stringify(error).includes('INSERT'));
      } finally {
        await store.close();
      }
    });

    it('an unreachable database fails to open with a short message, no credentials', async () => {
      const error = await PostgresStore.open({ url: 'postgres://bulwark:hunter2@127.0.0.1:1/nowhere' }).then(
        () => assert.fail('opened'),
        (e: unknown) => e as Error,
      );
      assert.ok(error instanceof PostgresStoreError);
      assert.ok(!error.message.includes('hunter2') && !error.message.includes('postgres://'), error.message);
      assert.match(error.message, /ECONNREFUSED/);
    });

    it('ping rejects once the database is gone', async () => {
      const schema = await newSchema();
      const store = await PostgresStore.open({ url: POSTGRES_URL, schema });
      await store.ping();
      await store.close();
      await assert.rejects(store.ping(), PostgresStoreError);
    });
  });

  describe('postgres: migrating accounts to their own namespace (acct:)', () => {
    it('moves accounts and what they own; older data of a same-named token subject stays', async () => {
      const schema = await newSchema();
      const version = POSTGRES_MIGRATIONS.findIndex((sql) => sql.includes("UPDATE users SET id = 'acct:'"));
      assert.ok(version > 0, 'the identity migration exists');
      const client = await db.connect();
      let aliceRoom = 0;
      let secret = 0;
      try {
        await client.query(`SET search_path = ${schema}`);
        await client.query('CREATE TABLE bulwark_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
        for (let v = 0; v < version; v++) {
          await client.query(POSTGRES_MIGRATIONS[v]!);
          await client.query('INSERT INTO bulwark_migrations VALUES ($1, 0)', [v + 1]);
        }
        await client.query(
          "INSERT INTO users (id, name, password_hash, roles, created_at) VALUES ('alice', 'alice', 'h', '[\"admin\"]', 1000), ('opsbot', 'opsbot', 'h', '[]', 5000)",
        );
        const room = async (name: string, owner: string, createdAt: number): Promise<number> =>
          (
            await client.query<{ id: number }>("INSERT INTO rooms (name, owner, visibility, created_at, last_seq) VALUES ($1, $2, 'private', $3, 1) RETURNING id", [
              name,
              owner,
              createdAt,
            ])
          ).rows[0]!.id;
        aliceRoom = await room('alice-room', 'alice', 2000);
        secret = await room('ops-secrets', 'opsbot', 1000);
        await client.query("INSERT INTO members VALUES ($1, 'alice', 'member'), ($2, 'opsbot', 'member')", [aliceRoom, secret]);
        await client.query(
          "INSERT INTO messages (room_id, seq, id, user_id, user_name, body, ts) VALUES ($1, 1, 'm1', 'alice', 'alice', 'x'::bytea, 3000), ($2, 1, 'm2', 'opsbot', 'bot', 'y'::bytea, 1500)",
          [aliceRoom, secret],
        );
        await client.query("INSERT INTO refresh_tokens (hash, family, user_id, expires_at) VALUES ('rt', 'f', 'alice', 9999999999999)");
      } finally {
        await client.query('RESET search_path');
        client.release();
      }
      const store = await PostgresStore.open({ url: POSTGRES_URL, schema });
      try {
        assert.deepEqual(await store.getUser('acct:alice'), { id: 'acct:alice', name: 'alice', passwordHash: 'h', roles: ['admin'], createdAt: 1000, disabled: false });
        assert.equal((await store.getRoom('alice-room'))?.owner, 'acct:alice');
        assert.equal((await store.getRoom('ops-secrets'))?.owner, 'opsbot');
        assert.equal(await store.getMembership(aliceRoom, 'acct:alice'), 'member');
        assert.equal(await store.getMembership(secret, 'opsbot'), 'member');
        assert.equal(await store.getMembership(secret, 'acct:opsbot'), undefined);
        assert.equal((await store.history(aliceRoom, { limit: 5 })).messages[0]?.userId, 'acct:alice');
        assert.equal((await store.history(secret, { limit: 5 })).messages[0]?.userId, 'opsbot');
        assert.equal((await store.getRefreshToken('rt'))?.userId, 'acct:alice');
      } finally {
        await store.close();
      }
    });
  });

  describe('postgres: servers with databaseUrl', () => {
    let dataDir: string;
    let servers: TestServer[] = [];
    before(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'bulwark-pg-'));
    });
    after(async () => {
      for (const s of servers) await s.stop();
      servers = [];
      rmSync(dataDir, { recursive: true, force: true });
    });
    const loose = { points: 1_000_000, durationMs: 60_000 };
    const serverConfig = (databaseUrl: string): Record<string, unknown> => ({
      databaseUrl,
      abuse: { threshold: 1_000_000 },
      rateLimits: { handshake: loose, default: loose, 'chat.send': loose, 'room.create': loose },
    });

    it('keeps rooms and history across a restart', async () => {
      const databaseUrl = urlFor(await newSchema());
      const first = await startServer({ dataDir, config: serverConfig(databaseUrl) });
      servers.push(first);
      assert.equal(first.bulwark.store.kind, 'postgres');
      const alice = await connect(first, 'alice', { name: 'Alice' });
      await alice.ok({ type: 'room.create', room: 'lasting', visibility: 'public' });
      await alice.ok({ type: 'room.join', room: 'lasting' });
      for (let i = 1; i <= 12; i++) await alice.ok({ type: 'chat.send', room: 'lasting', text: `remember ${i}` });
      alice.close();
      const second = await first.restart();
      servers.push(second);
      const bob = await connect(second, 'bob', { name: 'Bob' });
      await bob.ok({ type: 'room.join', room: 'lasting' });
      const page = await bob.ok({ type: 'chat.history', room: 'lasting', after: 0, limit: 100 });
      const messages = page.messages as Array<{ seq: number; text: string; user: { id: string } | string }>;
      assert.deepEqual(
        messages.map((m) => m.seq),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        messages.map((m) => m.text),
        Array.from({ length: 12 }, (_, i) => `remember ${i + 1}`),
      );
      const ack = await bob.ok({ type: 'chat.send', room: 'lasting', text: 'after the restart' });
      assert.equal((ack.message as { seq: number }).seq, 13);
      bob.close();
    });

    it('two servers on one database: interleaved sends get consecutive seqs without gaps', async () => {
      const databaseUrl = urlFor(await newSchema());
      // One data directory: both nodes share the token secret and the at-rest key ring, as a cluster does.
      const a = await startServer({ dataDir, config: serverConfig(databaseUrl) });
      servers.push(a);
      const b = await startServer({ dataDir, config: serverConfig(databaseUrl) });
      servers.push(b);
      const onA = await connect(a, 'alice', { name: 'Alice' });
      const onB = await connect(b, 'bob', { name: 'Bob' });
      await onA.ok({ type: 'room.create', room: 'crossing', visibility: 'public' });
      await onA.ok({ type: 'room.join', room: 'crossing' });
      await onB.ok({ type: 'room.join', room: 'crossing' });
      const per = 60;
      const sendAll = async (client: typeof onA, who: string): Promise<number[]> => {
        const seqs: number[] = [];
        for (let i = 0; i < per; i++) {
          const ack = await client.ok({ type: 'chat.send', room: 'crossing', text: `${who} ${i}` });
          seqs.push((ack.message as { seq: number }).seq);
        }
        return seqs;
      };
      const [fromA, fromB] = await Promise.all([sendAll(onA, 'alice'), sendAll(onB, 'bob')]);
      assert.deepEqual(
        fromA,
        [...fromA].sort((x, y) => x - y),
      );
      assert.deepEqual(
        fromB,
        [...fromB].sort((x, y) => x - y),
      );
      assert.deepEqual(
        [...fromA, ...fromB].sort((x, y) => x - y),
        Array.from({ length: 2 * per }, (_, i) => i + 1),
      );
      // Interleaved, not one node's block after the other's.
      assert.ok(fromA.some((s) => s < Math.max(...fromB)) && fromB.some((s) => s < Math.max(...fromA)));
      // Either node reads the whole history, in seq order (storage is shared).
      for (const client of [onA, onB]) {
        const messages: Array<{ seq: number; text: string }> = [];
        for (let more = true; more;) {
          const page = await client.ok({ type: 'chat.history', room: 'crossing', after: messages.at(-1)?.seq ?? 0, limit: 100 });
          messages.push(...(page.messages as Array<{ seq: number; text: string }>));
          more = page.hasMore === true;
        }
        assert.deepEqual(
          messages.map((m) => m.seq),
          Array.from({ length: 2 * per }, (_, i) => i + 1),
        );
        assert.equal(messages.filter((m) => m.text.startsWith('alice')).length, per);
      }
      onA.close();
      onB.close();
    });
  });
}
