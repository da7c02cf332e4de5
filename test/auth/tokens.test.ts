/**
 * Token lifecycle (contract section 3, "Tokens"): every forged or unfit token is refused, by the
 * `auth` frame (close 4401) and as an early token (401), with one `auth_failed` or
 * `token_expired` event; keys as a shared secret, a PEM public key or a JWKS URL with rotation;
 * live expiry with `auth.refresh_required`, `auth.refresh` and close 4401 at `exp`; revocation by
 * `jti` and by logout.
 */
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { startServer, type TestServer } from '../helpers/server.js';
import { handshakeStatus, openSocket, type TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf, epoch, eventually, signHs, sleep, storedEvents } from '../handshake/support.js';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`), built by hand: jose refuses to make one. */
function unsignedToken(payload: Record<string, unknown>, alg = 'none'): string {
  return `${b64({ alg, typ: 'JWT' })}.${b64(payload)}.`;
}

/** Sends `auth` with the token and expects close 4401 and one event of `event`. */
async function expectAuthFrameRefused(server: TestServer, recorder: EventRecorder, token: string, event: string, reason?: string): Promise<void> {
  const mark = recorder.mark();
  const client = await openSocket(server);
  client.send({ type: 'auth', token });
  const closed = await closeOf(client);
  assert.equal(closed.code, 4401, `close code for ${event}`);
  assert.equal(client.welcome, undefined);
  assert.ok(!client.frames.some((f) => f.type === 'welcome'), 'no welcome');
  const events = recorder.since(mark);
  assert.deepEqual(
    events.map((e) => e.type),
    [event],
  );
  if (reason !== undefined) assert.equal(events[0]!.detail?.reason, reason);
}

/** Presents the token as an early token and expects 401 and one event of `event`. */
async function expectEarlyRefused(server: TestServer, recorder: EventRecorder, token: string, event: string): Promise<void> {
  const mark = recorder.mark();
  assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${token}` } }), 401);
  assert.deepEqual(
    recorder.since(mark).map((e) => e.type),
    [event],
  );
}

async function expectRefused(server: TestServer, recorder: EventRecorder, token: string, event: string, reason?: string): Promise<void> {
  await expectAuthFrameRefused(server, recorder, token, event, reason);
  await expectEarlyRefused(server, recorder, token, event);
}

/** Authenticates with the `auth` frame; resolves with the client after `welcome`. */
async function authenticate(server: TestServer, token: string): Promise<TestClient> {
  const client = await openSocket(server);
  client.send({ type: 'auth', token });
  client.welcome = await client.next('welcome');
  return client;
}

describe('tokens refused by a shared-secret (HS256) server', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, auth: { clockSkewMs: 5000 } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('accepts a well-formed token (the baseline every refusal below differs from by one thing)', async () => {
    const client = await authenticate(server, await signHs(server, { sub: 'alice', exp: epoch(600) }));
    assert.equal((client.welcome!.user as { id: string }).id, 'alice');
    client.close();
  });

  it('refuses alg: none (unsigned) tokens, whatever the spelling', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await expectRefused(server, recorder, unsignedToken({ sub: 'admin', roles: ['admin'], exp: epoch(600) }, alg), 'auth_failed');
    }
  });

  it('refuses a token whose signature was stripped but its HS256 header kept', async () => {
    const token = await signHs(server, { sub: 'alice', exp: epoch(600) });
    await expectRefused(server, recorder, `${token.split('.').slice(0, 2).join('.')}.`, 'auth_failed');
  });

  it('refuses a tampered signature', async () => {
    const token = await signHs(server, { sub: 'alice', exp: epoch(600) });
    const [h, p, sig] = token.split('.') as [string, string, string];
    const flipped = Buffer.from(sig, 'base64url');
    flipped[0] = flipped[0]! ^ 0x01;
    await expectRefused(server, recorder, `${h}.${p}.${flipped.toString('base64url')}`, 'auth_failed', 'bad_signature');
  });

  it('refuses a tampered payload (sub and roles changed, signature kept)', async () => {
    const token = await signHs(server, { sub: 'alice', exp: epoch(600) });
    const [h, , sig] = token.split('.') as [string, string, string];
    await expectRefused(server, recorder, `${h}.${b64({ sub: 'admin', roles: ['admin'], exp: epoch(600) })}.${sig}`, 'auth_failed', 'bad_signature');
  });

  it('refuses a token signed with another secret', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('y'.repeat(48)));
    await expectRefused(server, recorder, token, 'auth_failed', 'bad_signature');
  });

  it('refuses an algorithm outside auth.algorithms (HS512 and HS384 to an HS256-only server), even with the right secret', async () => {
    for (const alg of ['HS512', 'HS384']) {
      await expectRefused(server, recorder, await signHs(server, { sub: 'alice', exp: epoch(600) }, { alg }), 'auth_failed', 'bad_algorithm');
    }
  });

  it('refuses an RS256 token on an HS256 server (wrong key type)', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('alice').setExpirationTime('10m').sign(privateKey);
    await expectRefused(server, recorder, token, 'auth_failed');
  });

  it('refuses a token without exp', async () => {
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice' }), 'auth_failed');
  });

  it('refuses a token without sub, or with an empty or non-string sub', async () => {
    await expectRefused(server, recorder, await signHs(server, { exp: epoch(600) }), 'auth_failed');
    await expectRefused(server, recorder, await signHs(server, { sub: '', exp: epoch(600) }), 'auth_failed');
    await expectRefused(server, recorder, await signHs(server, { sub: 42, exp: epoch(600) }), 'auth_failed');
  });

  it('refuses roles that are not an array of strings', async () => {
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice', roles: 'admin', exp: epoch(600) }), 'auth_failed');
  });

  it('refuses an expired token with token_expired', async () => {
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice', exp: epoch(-60) }), 'token_expired');
  });

  it('honours auth.clockSkewMs for exp: a token expired 2 s ago is still accepted with a 5 s skew', async () => {
    const client = await authenticate(server, await signHs(server, { sub: 'alice', exp: epoch(-2) }));
    client.close();
  });

  it('refuses a not-yet-valid token (nbf beyond auth.clockSkewMs), accepts one within it', async () => {
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice', nbf: epoch(60), exp: epoch(600) }), 'auth_failed', 'not_yet_valid');
    const client = await authenticate(server, await signHs(server, { sub: 'alice', nbf: epoch(2), exp: epoch(600) }));
    client.close();
  });

  it('refuses a token issued in the future (iat beyond auth.clockSkewMs)', async () => {
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice', iat: epoch(3600), exp: epoch(7200) }), 'auth_failed', 'not_yet_valid');
  });

  it('refuses garbage that is not a JWT at all', async () => {
    for (const token of ['x', 'a.b.c', `${b64({ alg: 'HS256' })}.not-base64!.sig`, '....']) {
      await expectAuthFrameRefused(server, recorder, token, 'auth_failed');
    }
  });

  it('closes 4401 when the first frame is not auth, and when auth carries no token', async () => {
    const client = await openSocket(server);
    client.send({ type: 'room.list', id: 'r1' });
    assert.equal((await closeOf(client)).code, 4401);
    const second = await openSocket(server);
    second.send({ type: 'auth' });
    assert.equal((await closeOf(second)).code, 4401);
  });

  it('never stores a refused token in a security event', async () => {
    const token = await signHs(server, { sub: 'alice', exp: epoch(-60) });
    await expectAuthFrameRefused(server, recorder, token, 'token_expired');
    const rows = JSON.stringify(await storedEvents(server));
    assert.ok(!rows.includes(token.split('.')[2]!));
  });

  it('still serves a valid token after all the refusals', async () => {
    const client = await authenticate(server, await server.token('alice'));
    await client.ok({ type: 'room.list' });
    client.close();
  });
});

describe('issuer and audience when configured', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, auth: { issuer: 'https://id.example.com', audience: 'bulwark' } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('accepts the configured iss and aud (aud as a string or in an array)', async () => {
    const a = await authenticate(server, await signHs(server, { sub: 'alice', iss: 'https://id.example.com', aud: 'bulwark', exp: epoch(600) }));
    const b = await authenticate(server, await signHs(server, { sub: 'bob', iss: 'https://id.example.com', aud: ['other', 'bulwark'], exp: epoch(600) }));
    a.close();
    b.close();
  });

  it('refuses a wrong or missing iss', async () => {
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice', iss: 'https://evil.example.com', aud: 'bulwark', exp: epoch(600) }), 'auth_failed', 'bad_claims');
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice', aud: 'bulwark', exp: epoch(600) }), 'auth_failed');
  });

  it('refuses a wrong or missing aud', async () => {
    await expectRefused(
      server,
      recorder,
      await signHs(server, { sub: 'alice', iss: 'https://id.example.com', aud: 'another-service', exp: epoch(600) }),
      'auth_failed',
      'bad_claims',
    );
    await expectRefused(server, recorder, await signHs(server, { sub: 'alice', iss: 'https://id.example.com', exp: epoch(600) }), 'auth_failed');
  });
});

describe('a PEM public key (RS256)', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  let privateKey: CryptoKey;
  let pem: string;
  let dir: string;
  before(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    pem = await exportSPKI(pair.publicKey);
    server = await startServer({ config: { ...ROOMY, auth: { algorithms: ['RS256', 'ES256'], publicKey: pem } } });
    recorder = new EventRecorder(server);
    dir = mkdtempSync(join(tmpdir(), 'bulwark-pem-'));
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const rs = (sub: string, key: CryptoKey = privateKey): Promise<string> => new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject(sub).setExpirationTime('10m').sign(key);

  it('verifies tokens signed with the matching private key (auth frame and early token)', async () => {
    const client = await authenticate(server, await rs('alice'));
    client.close();
    const early = await openSocket(server, { headers: { Authorization: `Bearer ${await rs('bob')}` } });
    await early.next('welcome');
    early.close();
  });

  it('refuses HS/RS key confusion: an HS256 token whose HMAC secret is the public key PEM', async () => {
    for (const secret of [pem, pem.trim(), `${pem.trim()}\n`]) {
      const token = await new SignJWT({ roles: ['admin'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('admin')
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret));
      await expectRefused(server, recorder, token, 'auth_failed', 'bad_algorithm');
    }
  });

  it('refuses a key of the wrong type: an ES256 token (allowed algorithm) against the RSA key', async () => {
    const ec = await generateKeyPair('ES256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('alice').setExpirationTime('10m').sign(ec.privateKey);
    await expectRefused(server, recorder, token, 'auth_failed');
  });

  it('refuses an RS256 token signed by another RSA key, and alg: none', async () => {
    const other = await generateKeyPair('RS256');
    await expectRefused(server, recorder, await rs('alice', other.privateKey), 'auth_failed', 'bad_signature');
    await expectRefused(server, recorder, unsignedToken({ sub: 'alice', exp: epoch(600) }), 'auth_failed');
  });

  it('refuses a token that embeds its own key (jwk header) or points at one (jku)', async () => {
    const attacker = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    const embedded = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', jwk }).setSubject('admin').setExpirationTime('10m').sign(attacker.privateKey);
    await expectRefused(server, recorder, embedded, 'auth_failed', 'bad_signature');
    const jku = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', jku: 'http://127.0.0.1:1/jwks.json' })
      .setSubject('admin')
      .setExpirationTime('10m')
      .sign(attacker.privateKey);
    await expectRefused(server, recorder, jku, 'auth_failed', 'bad_signature');
  });

  it('reads the PEM from a file path as well', async () => {
    const path = join(dir, 'public.pem');
    writeFileSync(path, pem);
    const fromFile = await startServer({ config: { ...ROOMY, auth: { algorithms: ['RS256'], publicKey: path } } });
    try {
      const client = await authenticate(fromFile, await rs('alice'));
      client.close();
    } finally {
      await fromFile.stop();
    }
  });
});

describe('a JWKS URL (cached, with rotation)', () => {
  let jwks: Server;
  let served: JWK[] = [];
  let fetches = 0;
  let jwksUrl: string;
  before(async () => {
    jwks = createHttpServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => {
    jwks.closeAllConnections();
    jwks.close();
  });

  async function keyPair(kid: string): Promise<{ kid: string; privateKey: CryptoKey; jwk: JWK }> {
    const pair = await generateKeyPair('RS256', { extractable: true });
    return { kid, privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' } };
  }

  const sign = (key: { kid: string; privateKey: CryptoKey }, sub: string): Promise<string> =>
    new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: key.kid }).setSubject(sub).setExpirationTime('10m').sign(key.privateKey);

  it('verifies with the served key, caches the set, follows a rotation to a new kid and drops the retired key', async () => {
    const k1 = await keyPair('2024-01');
    const k2 = await keyPair('2024-02');
    served = [k1.jwk];
    fetches = 0;
    const server = await startServer({ config: { ...ROOMY, auth: { algorithms: ['RS256'], jwksUrl } } });
    const recorder = new EventRecorder(server);
    try {
      for (const sub of ['alice', 'bob', 'carol']) {
        const client = await authenticate(server, await sign(k1, sub));
        client.close();
      }
      assert.equal(fetches, 1, 'the key set is fetched once and cached');

      // The issuer rotates: the set now holds only the new key. jose refetches on an unknown
      // kid once its 30 s cooldown has passed; the clock is advanced past it rather than waited.
      served = [k2.jwk];
      const realNow = Date.now.bind(Date);
      const clock = mock.method(Date, 'now', () => realNow() + 31_000);
      try {
        const rotated = await authenticate(server, await sign(k2, 'dave'));
        assert.equal((rotated.welcome!.user as { id: string }).id, 'dave');
        rotated.close();
      } finally {
        clock.mock.restore();
      }
      assert.equal(fetches, 2, 'the unknown kid triggered exactly one refetch');

      // The retired key no longer verifies.
      await expectAuthFrameRefused(server, recorder, await sign(k1, 'alice'), 'auth_failed');
      // A forged kid signed by an attacker does not verify either.
      const attacker = await keyPair('2024-02');
      await expectAuthFrameRefused(server, recorder, await sign(attacker, 'mallory'), 'auth_failed', 'bad_signature');
    } finally {
      await server.stop();
    }
  });

  it('refuses every token when the key set is unreachable, and recovers when it is back', async () => {
    const k = await keyPair('only');
    const port = (jwks.address() as AddressInfo).port;
    const server = await startServer({ config: { ...ROOMY, auth: { algorithms: ['RS256'], jwksUrl: `http://127.0.0.1:${port}/missing` } } });
    const recorder = new EventRecorder(server);
    const saved = jwks.listeners('request');
    jwks.removeAllListeners('request');
    jwks.on('request', (_req, res: import('node:http').ServerResponse) => res.writeHead(503).end());
    try {
      await expectAuthFrameRefused(server, recorder, await sign(k, 'alice'), 'auth_failed');
    } finally {
      jwks.removeAllListeners('request');
      for (const l of saved) jwks.on('request', l as (...args: unknown[]) => void);
      await server.stop();
    }
  });
});

describe('live expiry', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, auth: { refreshLeadMs: 2000, clockSkewMs: 0 } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('sends auth.refresh_required refreshLeadMs before exp, and auth.refresh with a new token for the same sub keeps the connection past the old exp', async () => {
    const exp = epoch(4);
    const client = await authenticate(server, await signHs(server, { sub: 'alice', exp }));
    const required = await client.next('auth.refresh_required', 5000);
    assert.equal(required.expiresAt, exp * 1000);
    assert.ok(Date.now() < exp * 1000, 'the warning came before exp');
    const fresh = await signHs(server, { sub: 'alice', exp: epoch(600) });
    const ack = await client.request({ type: 'auth.refresh', token: fresh });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    assert.equal(ack.expiresAt, (JSON.parse(Buffer.from(fresh.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000);
    // Past the old exp (plus a generous margin) the connection still works.
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 1500);
    await client.ok({ type: 'room.list' });
    client.close();
  });

  it("enforces the refreshed token's own exp: a second refresh_required and close 4401 at the new exp", async () => {
    const client = await authenticate(server, await signHs(server, { sub: 'erin', exp: epoch(3) }));
    await client.next('auth.refresh_required', 4000);
    const newExp = epoch(5);
    const ack = await client.request({ type: 'auth.refresh', token: await signHs(server, { sub: 'erin', exp: newExp }) });
    assert.equal(ack.type, 'ack');
    assert.equal(ack.expiresAt, newExp * 1000);
    const again = await client.next('auth.refresh_required', 6000);
    assert.equal(again.expiresAt, newExp * 1000);
    const closed = await closeOf(client, 8000);
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'token expired');
    assert.ok(Date.now() >= newExp * 1000 - 1000, 'not before the new exp');
  });

  it('closes 4401 with reason "token expired" at exp when no refresh came, with a token_expired event', async () => {
    const exp = epoch(3);
    const mark = recorder.mark();
    const client = await authenticate(server, await signHs(server, { sub: 'bob', exp }));
    await client.next('auth.refresh_required', 4000);
    const closed = await closeOf(client);
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'token expired');
    const late = Date.now() - exp * 1000;
    assert.ok(late > -1000 && late < 1500, `closed ${late} ms after exp`);
    assert.equal(recorder.since(mark, 'token_expired').length, 1);
  });

  it('closes 4403 when auth.refresh carries a token for another sub (refresh_subject_mismatch)', async () => {
    const mark = recorder.mark();
    const client = await authenticate(server, await signHs(server, { sub: 'carol', exp: epoch(600) }));
    client.send({ type: 'auth.refresh', id: 'swap', token: await signHs(server, { sub: 'admin', roles: ['admin'], exp: epoch(600) }) });
    const closed = await closeOf(client);
    assert.equal(closed.code, 4403);
    assert.equal(recorder.since(mark, 'refresh_subject_mismatch').length, 1);
  });

  it('answers UNAUTHENTICATED to auth.refresh with an invalid or expired token, and the old expiry still holds', async () => {
    const exp = epoch(3);
    const client = await authenticate(server, await signHs(server, { sub: 'dave', exp }));
    const bad = await client.request({ type: 'auth.refresh', token: await signHs(server, { sub: 'dave', exp: epoch(-60) }) });
    assert.equal(bad.type, 'error');
    assert.equal(bad.code, 'UNAUTHENTICATED');
    const forged = await client.request({ type: 'auth.refresh', token: unsignedToken({ sub: 'dave', exp: epoch(600) }) });
    assert.equal(forged.code, 'UNAUTHENTICATED');
    const closed = await closeOf(client);
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'token expired');
  });
});

describe('revocation by jti', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, accounts: { registration: 'open' }, rateLimits: { ...ROOMY.rateLimits, login: { points: 1000, durationMs: 60_000 } } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('closes every live connection of a revoked jti with 4401 within a second, leaves others open, and refuses it afterwards', async () => {
    const revoked = await server.token('alice', { jti: 'jti-revoked-1' });
    const a1 = await authenticate(server, revoked);
    const a2 = await openSocket(server, { headers: { Authorization: `Bearer ${revoked}` } });
    await a2.next('welcome');
    const other = await authenticate(server, await server.token('alice', { jti: 'jti-kept-1' }));
    const mark = recorder.mark();
    const started = Date.now();
    await server.bulwark.revocations.revoke('jti-revoked-1', Date.now() + 15 * 60_000);
    const [c1, c2] = await Promise.all([closeOf(a1, 3000), closeOf(a2, 3000)]);
    const elapsed = Date.now() - started;
    assert.equal(c1.code, 4401);
    assert.equal(c2.code, 4401);
    assert.ok(elapsed < 1500, `closed after ${elapsed} ms`);
    assert.equal(recorder.since(mark, 'token_revoked').length, 1);
    await other.ok({ type: 'room.list' });

    // A new connection with the revoked token is refused, by auth frame and by early token.
    const again = await openSocket(server);
    again.send({ type: 'auth', token: revoked });
    assert.equal((await closeOf(again)).code, 4401);
    assert.ok(!again.frames.some((f) => f.type === 'welcome'));
    const early = await openSocket(server, { headers: { Authorization: `Bearer ${revoked}` } }).catch((e: { status?: number }) => e);
    if ('ws' in early) {
      assert.equal((await closeOf(early)).code, 4401);
      assert.ok(!early.frames.some((f) => f.type === 'welcome'));
    } else {
      assert.equal(early.status, 401);
    }
    other.close();
  });

  it('applies a revocation written to the store by another process (CLI) within a second', async () => {
    const token = await server.token('bob', { jti: 'jti-from-cli' });
    const client = await authenticate(server, token);
    const started = Date.now();
    await server.bulwark.store.addRevocation('jti-from-cli', Date.now() + 15 * 60_000);
    const closed = await closeOf(client);
    assert.equal(closed.code, 4401);
    assert.ok(Date.now() - started < 1500, `closed after ${Date.now() - started} ms`);
  });

  it('logout with Authorization: Bearer <access> revokes that access token and closes its sockets', async () => {
    const reg = await fetch(`${server.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin },
      body: JSON.stringify({ username: 'logout-user', password: 'a long enough passphrase' }),
    });
    assert.equal(reg.status, 201);
    const { accessToken } = (await reg.json()) as { accessToken: string };
    const live = await authenticate(server, accessToken);
    const started = Date.now();
    const res = await fetch(`${server.url}/api/auth/logout`, { method: 'POST', headers: { origin: server.origin, authorization: `Bearer ${accessToken}` } });
    assert.equal(res.status, 204);
    const closed = await closeOf(live);
    assert.equal(closed.code, 4401);
    assert.ok(Date.now() - started < 1500);
    const again = await openSocket(server);
    again.send({ type: 'auth', token: accessToken });
    assert.equal((await closeOf(again)).code, 4401);
  });

  it('still serves a fresh token after the revocations', async () => {
    const client = await authenticate(server, await server.token('carol'));
    assert.ok(await eventually(() => client.ws.readyState === client.ws.OPEN));
    client.close();
  });
});
