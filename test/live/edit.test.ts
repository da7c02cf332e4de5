/**
 * `chat.edit` through the real server (docs/protocol.md "`chat.edit`"): the author only (the room
 * owner and admins may delete, not edit), sanitized and spam-checked like a send, `chat.edited`
 * to the room, history and resume return the latest text with `editedAt`, a deleted or unknown
 * message is NOT_FOUND, the same `id` again is the first ack with `duplicate: true`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { storedEvents } from '../helpers/events.js';
import { LOOSE_LIMITS, messagesOf } from '../core/fixtures.js';

describe('chat.edit', () => {
  let server: TestServer;
  let olga: TestClient;
  let max: TestClient;
  let n = 0;

  /** A fresh public room owned by olga, olga and max joined, and a message by max in it. */
  async function roomWithMessage(text = 'first words'): Promise<{ room: string; message: { id: string; seq: number } }> {
    const room = `edit-${++n}`;
    await olga.ok({ type: 'room.create', room, visibility: 'public' });
    await olga.ok({ type: 'room.join', room });
    await max.ok({ type: 'room.join', room });
    const ack = await max.ok({ type: 'chat.send', room, text });
    return { room, message: ack.message as { id: string; seq: number } };
  }

  before(async () => {
    server = await startServer({ config: { ...LOOSE_LIMITS, rateLimits: { ...(LOOSE_LIMITS.rateLimits as object), 'chat.edit': { points: 1_000_000, durationMs: 60_000 } } } });
    olga = await connect(server, 'olga', { name: 'Olga' });
    max = await connect(server, 'max', { name: 'Max' });
  });
  after(() => server.stop());

  it('the author edits: ack {room, message: {id, seq, editedAt}}, chat.edited with the new text to every joined connection', async () => {
    const { room, message } = await roomWithMessage();
    const before = Date.now();
    const ack = await max.ok({ type: 'chat.edit', id: 'edit-ok-1', room, message: message.id, text: 'second thoughts' });
    const meta = ack.message as { id: string; seq: number; editedAt: number };
    assert.equal(ack.room, room);
    assert.equal(meta.id, message.id);
    assert.equal(meta.seq, message.seq);
    assert.ok(meta.editedAt >= before - 1000 && meta.editedAt <= Date.now() + 1000);
    for (const conn of [olga, max]) {
      const edited = await conn.waitFor((f) => f.type === 'chat.edited' && f.room === room);
      const m = edited.message as Record<string, unknown>;
      assert.equal(m.id, message.id);
      assert.equal(m.text, 'second thoughts');
      assert.equal(m.editedAt, meta.editedAt);
      assert.deepEqual(m.user, { id: 'max', name: 'Max' });
    }
  });

  it('history and resume (room.join since) return the latest text and editedAt', async () => {
    const { room, message } = await roomWithMessage('draft one');
    const ack = await max.ok({ type: 'chat.edit', room, message: message.id, text: 'final text' });
    const editedAt = (ack.message as { editedAt: number }).editedAt;
    const history = messagesOf(await olga.ok({ type: 'chat.history', room }));
    const stored = history.find((m) => m.id === message.id)!;
    assert.equal(stored.text, 'final text');
    assert.equal(stored.editedAt, editedAt);
    const late = await connect(server, 'late', { name: 'Late' });
    const resumed = messagesOf(await late.ok({ type: 'room.join', room, since: message.seq - 1 }), 'history');
    assert.equal(resumed[0]!.text, 'final text');
    assert.equal(resumed[0]!.editedAt, editedAt);
    late.close();
  });

  it('only the author: another member, the room owner and an admin are FORBIDDEN, and the text is unchanged', async () => {
    const { room, message } = await roomWithMessage('mine alone');
    const admin = await connect(server, 'root', { roles: ['admin'] });
    await admin.ok({ type: 'room.join', room });
    for (const who of [olga, admin]) {
      const reply = await who.request({ type: 'chat.edit', room, message: message.id, text: 'not yours' });
      assert.equal(reply.code, 'FORBIDDEN');
    }
    const history = messagesOf(await olga.ok({ type: 'chat.history', room }));
    assert.equal(history.find((m) => m.id === message.id)!.text, 'mine alone');
    assert.equal(history.find((m) => m.id === message.id)!.editedAt, undefined);
    assert.ok((await storedEvents(server, 'forbidden_action')).some((e) => e.detail?.action === 'chat.edit'));
    // The owner may still delete it.
    await olga.ok({ type: 'chat.delete', room, message: message.id });
    admin.close();
  });

  it('a deleted or unknown message is NOT_FOUND; a non-member gets NOT_A_MEMBER; a hidden private room NOT_FOUND', async () => {
    const { room, message } = await roomWithMessage('short lived');
    await max.ok({ type: 'chat.delete', room, message: message.id });
    assert.equal((await max.request({ type: 'chat.edit', room, message: message.id, text: 'revived?' })).code, 'NOT_FOUND');
    assert.equal((await max.request({ type: 'chat.edit', room, message: 'no-such-message', text: 'x y z' })).code, 'NOT_FOUND');
    const history = messagesOf(await olga.ok({ type: 'chat.history', room }));
    assert.deepEqual(
      history.find((m) => m.id === message.id),
      { id: message.id, seq: message.seq, room, deleted: true },
    );
    const stranger = await connect(server, 'stranger');
    assert.equal((await stranger.request({ type: 'chat.edit', room, message: 'whatever', text: 'hi there' })).code, 'NOT_A_MEMBER');
    const secret = `edit-secret-${++n}`;
    await olga.ok({ type: 'room.create', room: secret, visibility: 'private' });
    assert.equal((await stranger.request({ type: 'chat.edit', room: secret, message: 'whatever', text: 'hi there' })).code, 'NOT_FOUND');
    stranger.close();
  });

  it('is idempotent by id: the same id again gets the first ack with duplicate: true and applies nothing', async () => {
    const { room, message } = await roomWithMessage('before');
    const first = await max.ok({ type: 'chat.edit', id: 'edit-dup-1', room, message: message.id, text: 'after one' });
    await olga.waitFor((f) => f.type === 'chat.edited' && f.room === room);
    const again = await max.ok({ type: 'chat.edit', id: 'edit-dup-1', room, message: message.id, text: 'after two' });
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.message, first.message);
    assert.equal(await olga.quiet((f) => f.type === 'chat.edited' && f.room === room), true, 'nothing delivered twice');
    const history = messagesOf(await olga.ok({ type: 'chat.history', room }));
    assert.equal(history.find((m) => m.id === message.id)!.text, 'after one');
    // An edit id never answers as a send with the same id.
    const send = await max.ok({ type: 'chat.send', id: 'edit-dup-1', room, text: 'a real send' });
    assert.equal(send.duplicate, undefined);
  });

  it('sanitizes like a send and records xss_attempt; empty text is INVALID_PAYLOAD; spam is SPAM', async () => {
    const { room, message } = await roomWithMessage('plain');
    await max.ok({ type: 'chat.edit', room, message: message.id, text: '<img src=x onerror=alert(1)><b>bold</b>' });
    const edited = await olga.waitFor((f) => f.type === 'chat.edited' && f.room === room);
    assert.equal((edited.message as { text: string }).text, '&lt;img src=x onerror=alert(1)&gt;<b>bold</b>');
    assert.ok((await storedEvents(server, 'xss_attempt')).some((e) => e.detail?.type === 'chat.edit'));
    const empty = await max.request({ type: 'chat.edit', room, message: message.id, text: '   ' });
    assert.equal(empty.code, 'INVALID_PAYLOAD');
    const spam = await max.request({ type: 'chat.edit', room, message: message.id, text: 'a'.repeat(60) });
    assert.equal(spam.code, 'SPAM');
    const unknown = await max.request({ type: 'chat.edit', room, message: message.id, text: 'ok', ts: 1 });
    assert.equal(unknown.code, 'INVALID_PAYLOAD');
  });
});
