/**
 * `bulwark serve` and `bulwark token` as an operator runs them (contract section 5), in real
 * child processes: the generated secret, tokens the server accepts, SIGTERM closing sockets with
 * 1001 and exiting 0, and acknowledged messages surviving a SIGTERM and even a SIGKILL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openSocket } from '../helpers/client.js';
import { closedWithin, messagesOf, range, seqs } from './fixtures.js';
import { login, mint, run, serve, signed, tempDir, terminate, useCli } from './cli-support.js';

useCli();

describe('bulwark serve and token', () => {
  it('creates a random signing secret with mode 0600 and mints tokens the server accepts', async () => {
    const dataDir = tempDir();
    const served = await serve(['--data-dir', dataDir]);
    assert.equal(statSync(join(dataDir, 'jwt-secret')).mode & 0o777, 0o600);
    const token = await mint(dataDir, 'alice', ['--name', 'Alice Liddell', '--roles', 'admin,mod', '--ttl', '2h']);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
    assert.ok(Math.abs(claims.exp - claims.iat - 7200) <= 1, 'ttl 2h');
    const client = await login(served, token);
    assert.deepEqual(client.welcome!.user, { id: 'alice', name: 'Alice Liddell', roles: ['admin', 'mod'] });
    assert.equal((await client.request({ type: 'admin.broadcast', text: 'the roles work' })).type, 'ack');
    client.close();
    await terminate(served);
  });

  it("refuses a token signed with another data directory's secret", async () => {
    const served = await serve(['--data-dir', tempDir()]);
    const client = await openSocket(served);
    client.send({ type: 'auth', token: await signed(tempDir(), 'mallory') });
    assert.equal((await closedWithin(client)).code, 4401);
    await terminate(served);
  });

  it('signs and verifies with BULWARK_JWT_SECRET when it is configured, and then writes no secret file', async () => {
    const dataDir = tempDir();
    const env = { BULWARK_JWT_SECRET: 'a-configured-secret-of-at-least-32-chars' };
    const served = await serve(['--data-dir', dataDir], env);
    const client = await login(served, await mint(dataDir, 'carol', [], env));
    assert.equal((client.welcome!.user as { id: string }).id, 'carol');
    client.close();
    assert.equal(existsSync(join(dataDir, 'jwt-secret')), false);
    const other = await openSocket(served);
    other.send({ type: 'auth', token: await signed(tempDir(), 'carol') });
    assert.equal((await closedWithin(other)).code, 4401, 'a token from a generated secret does not verify');
    await terminate(served);
    const short = await run(['token', '--sub', 'x', '--data-dir', dataDir], { BULWARK_JWT_SECRET: 'too-short' });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /auth\.secret/);
  });

  it('prints usage and exits 1 when token has no --sub', async () => {
    const r = await run(['token', '--data-dir', tempDir()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--sub/);
  });

  it('keeps every acknowledged message through SIGTERM (sockets closed 1001, exit 0) and through SIGKILL', async () => {
    const dataDir = tempDir();
    const served = await serve(['--data-dir', dataDir]);
    const token = await signed(dataDir, 'olga');
    const client = await login(served, token);
    await client.ok({ type: 'room.create', room: 'durable', visibility: 'public' });
    await client.ok({ type: 'room.join', room: 'durable' });
    for (let i = 1; i <= 10; i++) await client.ok({ type: 'chat.send', room: 'durable', text: `message ${i}` });
    served.child.kill('SIGTERM');
    assert.equal((await closedWithin(client)).code, 1001);
    const exit = await served.exit;
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(exit.signal, null);

    // Second life: everything is there; then a crash right after a pipelined burst is acknowledged.
    const second = await serve(['--data-dir', dataDir]);
    const back = await login(second, token);
    const join = await back.ok({ type: 'room.join', room: 'durable', since: 0 });
    assert.deepEqual(seqs(messagesOf(join, 'history')), range(1, 10));
    // Pipelined: many writes share a commit; each ack must still mean "committed".
    const acks = await Promise.all(range(11, 35).map((i) => back.request({ type: 'chat.send', id: `burst-${i}`, room: 'durable', text: `message ${i}` })));
    for (const ack of acks) assert.equal(ack.type, 'ack', JSON.stringify(ack));
    second.child.kill('SIGKILL');
    assert.equal((await second.exit).signal, 'SIGKILL');

    const third = await serve(['--data-dir', dataDir]);
    const last = await login(third, token);
    const history = messagesOf(await last.ok({ type: 'chat.history', room: 'durable' }));
    assert.deepEqual(seqs(history), range(1, 35));
    assert.deepEqual(
      history.map((m) => m.text),
      range(1, 35).map((i) => `message ${i}`),
    );
    last.close();
    await terminate(third);
  });
});
