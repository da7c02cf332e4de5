import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';

describe('a chat round trip', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('creates a room, joins it and acknowledges a message only after delivering it', async () => {
    const alice = await connect(server, 'alice', { name: 'Alice' });
    assert.equal((alice.welcome!.user as { id: string }).id, 'alice');
    await alice.ok({ type: 'room.create', room: 'general', visibility: 'public' });
    await alice.ok({ type: 'room.join', room: 'general' });
    // The order frames arrive on the socket, before the inbox hands them out.
    const arrivals: string[] = [];
    alice.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; id?: string };
      arrivals.push(frame.id ? `${frame.type}:${frame.id}` : frame.type);
    });
    const ack = await alice.ok({ type: 'chat.send', id: 'hello-1', room: 'general', text: 'hello' });
    const delivered = await alice.next('chat.message');
    assert.equal((delivered.message as { seq: number }).seq, 1);
    assert.equal((ack.message as { seq: number }).seq, 1);
    assert.deepEqual(arrivals, ['chat.message', 'ack:hello-1'], 'the chat.message reaches the sender before its ack');
    alice.close();
  });
});
