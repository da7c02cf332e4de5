/**
 * Durable history (contract sections 4 and 5): after the server is stopped and a new one is
 * started on the same data directory, rooms, ownership, invitations, messages, deletions and
 * `seq` are intact, and tokens signed with the generated secret still verify. Stopping closes
 * every socket with 1001 and stops accepting.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, openSocket } from '../helpers/client.js';
import { closedWithin, LOOSE_LIMITS, messagesOf, outcome, range, sendMany, seqs, type WireMessage, type WireRoom } from './fixtures.js';

async function fullHistory(client: Awaited<ReturnType<typeof connect>>, room: string): Promise<WireMessage[]> {
  const out: WireMessage[] = [];
  let after = 0;
  for (;;) {
    const page = await client.ok({ type: 'chat.history', room, after, limit: 100 });
    out.push(...messagesOf(page));
    if (!page.hasMore) return out;
    after = out.at(-1)!.seq;
  }
}

describe('history across a restart on the same data directory', () => {
  let first: TestServer;
  let second: TestServer | undefined;
  let beforeStop: WireMessage[];
  let privateBefore: WireMessage[];
  let deletedId: string;
  let oldToken: string;

  before(async () => {
    first = await startServer({ config: LOOSE_LIMITS });
    oldToken = await first.token('olga', { name: 'Olga' });
    const olga = await connect(first, 'olga', { name: 'Olga', token: oldToken });
    const max = await connect(first, 'max', { name: 'Max' });
    await olga.ok({ type: 'room.create', room: 'archive', visibility: 'public' });
    await olga.ok({ type: 'room.join', room: 'archive' });
    await max.ok({ type: 'room.join', room: 'archive' });
    await sendMany(olga, 'archive', 80, (i) => `olga says ${i}`);
    await sendMany(max, 'archive', 70, (i) => `max replies ${i}`);
    const victim = messagesOf(await olga.ok({ type: 'chat.history', room: 'archive', after: 41, limit: 1 }))[0]!;
    deletedId = victim.id;
    await olga.ok({ type: 'chat.delete', room: 'archive', message: deletedId });
    await olga.ok({ type: 'room.create', room: 'vault', visibility: 'private' });
    await olga.ok({ type: 'room.invite', room: 'vault', user: 'max' });
    await olga.ok({ type: 'room.join', room: 'vault' });
    await olga.ok({ type: 'chat.send', room: 'vault', text: 'for invited eyes' });
    beforeStop = await fullHistory(olga, 'archive');
    privateBefore = await fullHistory(olga, 'vault');
    // The last acknowledged message goes straight into the stop: acknowledged means committed.
    await max.ok({ type: 'chat.send', room: 'archive', text: 'last words' });
    // restart() stops this node (closing its sockets) and starts a new one on the same directory.
    second = await first.restart();
  });
  after(async () => {
    await second?.stop();
    await first.stop();
    rmSync(first.dataDir, { recursive: true, force: true });
  });

  it('keeps every message, in order, with its id, author, text and ts', async () => {
    const olga = await connect(second!, 'olga', { name: 'Olga' });
    const afterRestart = await fullHistory(olga, 'archive');
    assert.deepEqual(seqs(afterRestart), range(1, 151));
    assert.deepEqual(afterRestart.slice(0, 150), beforeStop);
    assert.equal(afterRestart[150]!.text, 'last words');
    assert.deepEqual(afterRestart[41], { id: deletedId, seq: 42, room: 'archive', deleted: true }, 'the deletion survived');
    assert.deepEqual(await fullHistory(olga, 'vault'), privateBefore);
    olga.close();
  });

  it('resumes with since from where a client left off before the restart', async () => {
    const max = await connect(second!, 'max', { name: 'Max' });
    const join = await max.ok({ type: 'room.join', room: 'archive', since: 140 });
    assert.deepEqual(seqs(messagesOf(join, 'history')), range(141, 151));
    assert.equal(join.hasMore, false);
    max.close();
  });

  it('continues seq after the last stored message', async () => {
    const max = await connect(second!, 'max', { name: 'Max' });
    await max.ok({ type: 'room.join', room: 'archive' });
    const ack = await max.ok({ type: 'chat.send', room: 'archive', text: 'after the restart' });
    assert.equal((ack.message as { seq: number }).seq, 152);
    max.close();
  });

  it('keeps rooms, owners, visibility and invitations', async () => {
    const max = await connect(second!, 'max', { name: 'Max' });
    const otto = await connect(second!, 'otto');
    const rooms = (await otto.ok({ type: 'room.list' })).rooms as WireRoom[];
    assert.deepEqual(
      rooms.filter((r) => r.name === 'archive').map((r) => [r.owner, r.visibility]),
      [['olga', 'public']],
    );
    assert.ok(!rooms.some((r) => r.name === 'vault'), 'the private room stays private');
    assert.equal(outcome(await max.request({ type: 'room.delete', room: 'archive' })), 'FORBIDDEN', 'ownership survived');
    assert.equal(outcome(await otto.request({ type: 'room.join', room: 'vault' })), 'NOT_FOUND', 'hidden from outsiders');
    assert.equal(outcome(await max.request({ type: 'room.join', room: 'vault' })), 'ack', 'the invitation survived');
    max.close();
    otto.close();
  });

  it('accepts a token minted before the restart: the generated secret is kept, with mode 0600', async () => {
    const olga = await connect(second!, 'olga', { token: oldToken });
    assert.equal((olga.welcome!.user as { id: string }).id, 'olga');
    olga.close();
    const mode = statSync(join(second!.dataDir, 'jwt-secret')).mode & 0o777;
    assert.equal(mode, 0o600);
  });
});

describe('stopping the server', () => {
  it('closes every socket with 1001, then refuses new connections', async () => {
    const server = await startServer({ config: LOOSE_LIMITS });
    const authed = await connect(server, 'olga');
    const pending = await openSocket(server); // opened but never authenticated
    await server.stop();
    assert.equal((await closedWithin(authed)).code, 1001);
    assert.equal((await closedWithin(pending)).code, 1001);
    await assert.rejects(openSocket(server), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
    await assert.rejects(fetch(`${server.url}/healthz`));
  });
});
