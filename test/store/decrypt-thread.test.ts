/**
 * History pages decrypted on the codec's worker thread: the same text as the in-thread decode,
 * rows under an old key still readable, tampering and unknown keys answered as unreadable rows (never
 * garbage), deleted rows kept empty, and a key rotation reaching the thread.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncryptingCodec, KEYS_FILE, loadKeyRing, rotateKeyFile, type KeyRing } from '../../src/security/at-rest.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-decrypt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ring = (...ids: string[]): KeyRing => ({ current: ids.at(-1)!, keys: new Map(ids.map((id) => [id, randomBytes(32)])) });

describe('decrypt thread', () => {
  it('decrypts a page to exactly what was encoded, rows under older keys and plaintext rows included', async () => {
    const keys = ring('k1', 'k2');
    const old = new EncryptingCodec({ current: 'k1', keys: keys.keys });
    const codec = new EncryptingCodec(keys);
    try {
      const texts = Array.from({ length: 50 }, (_, i) => `message ${i} ${'é✓'.repeat(i % 7)} <b>${i}</b>`);
      const rows = texts.map((text, i) => {
        const encoded = (i % 5 === 0 ? old : codec).encode(text, `id-${i}`);
        return { body: encoded.body, keyId: encoded.keyId, aad: `id-${i}` };
      });
      rows.push({ body: Buffer.from('legacy plaintext', 'utf8'), keyId: null, aad: 'legacy' });
      assert.deepEqual(await codec.decodeMany(rows), [...texts, 'legacy plaintext']);
      assert.equal(rows.filter((r) => r.keyId === 'k1').length, 10, 'some rows were under the old key');
    } finally {
      await codec.close();
      await old.close();
    }
  });

  it('answers null (never garbage) for a tampered row, a row moved to another id, or an unknown key, and the rest of the page stands', async () => {
    const codec = new EncryptingCodec(ring('k1'));
    try {
      const good = codec.encode('hello', 'a');
      const tampered = Buffer.from(good.body);
      tampered[tampered.length - 1]! ^= 1;
      const page = [
        { body: tampered, keyId: 'k1', aad: 'a' },
        { body: good.body, keyId: 'k1', aad: 'b' },
        { body: good.body, keyId: 'k9', aad: 'a' },
        { body: good.body, keyId: 'k1', aad: 'a' },
      ];
      assert.deepEqual(await codec.decodeMany(page), [null, null, null, 'hello']);
      assert.deepEqual(await codec.decodeMany([{ body: good.body, keyId: 'k1', aad: 'a' }]), ['hello'], 'the thread still answers after refusals');
    } finally {
      await codec.close();
    }
  });

  it('serves SQLite history pages through the thread, deleted rows empty, and follows a key rotation', async () => {
    const keysDir = join(dir, 'keys');
    const codec = new EncryptingCodec(loadKeyRing(keysDir, {}), join(keysDir, KEYS_FILE));
    const store = new SqliteStore({ path: join(dir, 'pages.db'), codec });
    try {
      const room = (await store.createRoom({ name: 'r', owner: 'alice', visibility: 'public', createdAt: Date.now() }))!;
      const send = (i: number): Promise<unknown> =>
        store.appendMessage({ id: `m${String(i).padStart(4, '0')}`, roomId: room.id, roomName: 'r', userId: 'alice', userName: 'Alice', text: `text ${i}`, ts: Date.now() });
      await Promise.all(Array.from({ length: 60 }, (_, i) => send(i)));
      await store.deleteMessage(room.id, 'm0007');
      const page = await store.history(room.id, { limit: 100 });
      assert.equal(page.messages.length, 60);
      assert.deepEqual(
        page.messages.map((m) => m.text),
        Array.from({ length: 60 }, (_, i) => (i === 7 ? '' : `text ${i}`)),
      );
      assert.equal(page.messages[7]!.deleted, true);

      // `bulwark keys rotate` while running: new rows use the new key, the thread reads both.
      assert.equal(rotateKeyFile(keysDir), 'k2');
      assert.equal(codec.reloadIfChanged(), true);
      assert.equal(codec.currentKeyId, 'k2');
      await Promise.all(Array.from({ length: 20 }, (_, i) => send(100 + i)));
      const mixed = await store.history(room.id, { limit: 40 });
      assert.deepEqual(
        mixed.messages.map((m) => m.text),
        [...Array.from({ length: 20 }, (_, i) => `text ${40 + i}`), ...Array.from({ length: 20 }, (_, i) => `text ${100 + i}`)],
      );
    } finally {
      await store.close();
      await codec.close();
    }
  });

  it('reads pages as text (plain rows as text, encrypted rows as hex): rows written before encryption, multi-byte text, short and long pages, tampering still caught', async () => {
    const path = join(dir, 'text-pages.db');
    const texts = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `row ${from + i} é✓🙂 <i>x</i> ${'\u0000'.slice(0, (from + i) % 2)}`);
    // Written without encryption first (a store that turned encryption on later keeps these rows as they are).
    const plainStore = new SqliteStore({ path });
    const room = (await plainStore.createRoom({ name: 'p', owner: 'alice', visibility: 'public', createdAt: Date.now() }))!;
    const append = (store: SqliteStore, text: string, i: number): Promise<unknown> =>
      store.appendMessage({ id: `t${String(i).padStart(4, '0')}`, roomId: room.id, roomName: 'p', userId: 'alice', userName: 'Alice', text, ts: Date.now() });
    await Promise.all(texts(0, 30).map((t, i) => append(plainStore, t, i)));
    await plainStore.close();
    const codec = new EncryptingCodec(ring('k1'));
    const store = new SqliteStore({ path, codec });
    try {
      await Promise.all(texts(30, 30).map((t, i) => append(store, t, 30 + i)));
      const all = [...texts(0, 30), ...texts(30, 30)];
      // 60 rows go through the thread; 5 are decoded in place.
      assert.deepEqual(
        (await store.history(room.id, { limit: 100 })).messages.map((m) => m.text),
        all,
      );
      assert.deepEqual(
        (await store.history(room.id, { before: 34, limit: 5 })).messages.map((m) => m.text),
        all.slice(28, 33),
      );
      assert.deepEqual(
        (await store.history(room.id, { after: 10, before: 50, limit: 100 })).messages.map((m) => m.text),
        all.slice(10, 49),
      );
      // A flipped byte in an encrypted row's ciphertext: that row is unavailable, never garbage, in both paths.
      const raw = new (await import('better-sqlite3')).default(path);
      raw.prepare("UPDATE messages SET body = substr(body, 1, 40) || x'00' || substr(body, 42) WHERE id = 't0040'").run();
      raw.close();
      for (const limit of [5, 100]) {
        const page = await store.history(room.id, { after: 36, limit });
        const broken = page.messages.find((m) => m.id === 't0040')!;
        assert.equal(broken.unavailable, true);
        assert.equal(broken.text, '');
        assert.deepEqual(
          page.messages.filter((m) => m.id !== 't0040').map((m) => m.text),
          all.slice(36, 36 + limit).filter((_, i) => 36 + i !== 40),
        );
      }
    } finally {
      await store.close();
      await codec.close();
    }
  });
});
