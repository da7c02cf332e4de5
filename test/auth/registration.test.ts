/**
 * Registration modes (`accounts.registration`): by invitation by default, `open`, or `closed`.
 * Invitation codes are single-use, expire, are stored only hashed, and a registration that fails
 * (name taken) gives its code back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInvite } from '../../src/auth/invites.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { EventRecorder, ROOMY } from '../handshake/support.js';

const LOGIN_RULE = { points: 10_000, durationMs: 60_000 };

async function register(server: TestServer, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.origin },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function options(server: TestServer): Promise<unknown> {
  return (await fetch(`${server.url}/api/auth/options`)).json();
}

describe('registration by invitation (the default)', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, rateLimits: { ...ROOMY.rateLimits, login: LOGIN_RULE } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('is the default and is what /api/auth/options says', async () => {
    assert.equal(server.config.accounts.registration, 'invite');
    assert.deepEqual(await options(server), { registration: 'invite' });
  });

  it('refuses a registration without a code (403, register_refused invite_required) and creates nothing', async () => {
    const mark = recorder.mark();
    const reply = await register(server, { username: 'walkin', password: 'a perfectly fine passphrase' });
    assert.equal(reply.status, 403);
    assert.equal(reply.body.error, 'FORBIDDEN');
    assert.equal(reply.body.accessToken, undefined);
    assert.match(String(reply.body.message), /invitation code is required/);
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.detail?.reason]),
      [['register_refused', 'invite_required']],
    );
    assert.equal(await server.bulwark.store.getUser('acct:walkin'), undefined);
  });

  it('refuses made-up, malformed and expired codes alike (403 invite_invalid)', async () => {
    const expired = await createInvite(server.bulwark.store, 'test', 1, Date.now() - 10);
    for (const invite of ['bwi_AAAAAAAAAAAAAAAAAAAAAAAA', 'not-a-code', 42, expired.code]) {
      const mark = recorder.mark();
      const reply = await register(server, { username: 'guesser', password: 'a perfectly fine passphrase', invite });
      assert.equal(reply.status, 403, JSON.stringify(invite));
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.reason]),
        [['register_refused', 'invite_invalid']],
      );
    }
    assert.equal(await server.bulwark.store.getUser('acct:guesser'), undefined);
  });

  it('accepts a valid code once: the second registration with it is refused', async () => {
    const invite = await createInvite(server.bulwark.store, 'test', 60_000);
    const first = await register(server, { username: 'invited', password: 'a perfectly fine passphrase', invite: invite.code });
    assert.equal(first.status, 201);
    assert.equal((first.body.user as { id: string }).id, 'acct:invited');
    const second = await register(server, { username: 'tagalong', password: 'a perfectly fine passphrase', invite: invite.code });
    assert.equal(second.status, 403);
    const stored = (await server.bulwark.store.listInvites(10)).find((i) => i.id === invite.id);
    assert.equal(stored?.usedBy, 'acct:invited');
  });

  it('gives the code back when the registration fails for a taken name', async () => {
    const invite = await createInvite(server.bulwark.store, 'test', 60_000);
    assert.equal((await register(server, { username: 'invited', password: 'another fine passphrase', invite: invite.code })).status, 409);
    assert.equal((await register(server, { username: 'second-try', password: 'another fine passphrase', invite: invite.code })).status, 201);
  });

  it('keeps only the hash of a code in the database', async () => {
    const invite = await createInvite(server.bulwark.store, 'test', 60_000);
    await server.bulwark.store.flush();
    const files = ['bulwark.db', 'bulwark.db-wal'].map((f) => join(server.dataDir, f)).filter((f) => existsSync(f));
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    assert.ok(bytes.includes(Buffer.from(invite.id)), 'the invite row is there');
    assert.ok(!bytes.includes(Buffer.from(invite.code)), 'the code itself is not');
  });
});

describe('closed and open registration', () => {
  it('closed: every registration is refused 403, even with a valid code', async () => {
    const server = await startServer({ config: { ...ROOMY, accounts: { registration: 'closed' } } });
    try {
      assert.deepEqual(await options(server), { registration: 'closed' });
      const invite = await createInvite(server.bulwark.store, 'test', 60_000);
      const reply = await register(server, { username: 'someone', password: 'a perfectly fine passphrase', invite: invite.code });
      assert.equal(reply.status, 403);
      assert.match(String(reply.body.message), /closed/);
    } finally {
      await server.stop();
    }
  });

  it('open: anyone may register, no code needed', async () => {
    const server = await startServer({ config: { ...ROOMY, accounts: { registration: 'open' } } });
    try {
      assert.deepEqual(await options(server), { registration: 'open' });
      assert.equal((await register(server, { username: 'someone', password: 'a perfectly fine passphrase' })).status, 201);
    } finally {
      await server.stop();
    }
  });
});
