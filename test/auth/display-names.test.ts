/**
 * Display names as other people see them (issue 14): a token's `name` is NFC-normalised, loses
 * bidirectional controls and zero-width characters, and is cut to 64 characters on a code-point
 * boundary, in `welcome` and in every message it signs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { ROOMY } from '../handshake/support.js';

describe('display names', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
  });
  after(() => server.stop());

  const cases: Array<[string, string, string]> = [
    ['a right-to-left override that disguises a file name', 'invoice\u202Egpj.exe', 'invoicegpj.exe'],
    ['embeddings, isolates and marks', '\u202Aadmin\u202C \u2067x\u2069\u200F\u061C', 'admin x'],
    ['zero-width characters between letters', 'al\u200Bi\u200Cc\u200De\u2060\uFEFF', 'alice'],
    ['decomposed accents, NFC-normalised', 'Ame\u0301lie', 'Amélie'],
    ['control characters and runs of white space', 'bob\u0007\t\n  the   builder ', 'bob the builder'],
    ['nothing visible: the subject instead', '\u200B\u202E\u2066', 'plain-sub'],
  ];

  for (const [label, raw, shown] of cases) {
    it(`cleans ${label}`, async () => {
      const client = await connect(server, 'plain-sub', { name: raw });
      assert.equal((client.welcome!.user as { name: string }).name, shown);
      client.close();
    });
  }

  it('bounds the length to 64 characters without splitting a surrogate pair, and signs messages with the clean name', async () => {
    const long = `${'😀'.repeat(63)}abc`;
    const client = await connect(server, 'emoji-fan', { name: long });
    const name = (client.welcome!.user as { name: string }).name;
    assert.equal(Array.from(name).length, 64);
    assert.equal(name, `${'😀'.repeat(63)}a`);
    await client.ok({ type: 'room.create', room: 'names', visibility: 'public' });
    await client.ok({ type: 'room.join', room: 'names' });
    const spoof = await connect(server, 'spoofer', { name: 'mod\u202Erotar' });
    await spoof.ok({ type: 'room.join', room: 'names' });
    await spoof.ok({ type: 'chat.send', room: 'names', text: 'hello' });
    const delivered = await client.next('chat.message');
    assert.equal((delivered.message as { user: { name: string } }).user.name, 'modrotar');
    client.close();
    spoof.close();
  });
});
