/**
 * Several issuers (`auth.issuers`, issue 14): each issuer has its own keys, cached for it alone,
 * and a token is verified only with the keys of the issuer it names. The attack: two identity
 * providers publish JWKS whose keys share a `kid`; a server that pools or caches keys by `kid`
 * accepts a token signed by issuer A's key that claims to come from issuer B (and so gets B's
 * users). Two JWKS endpoints on loopback reproduce it exactly. Subjects of each issuer live in
 * their own namespace (`subjectPrefix`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { loadConfig } from '../../src/config/load.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { handshakeStatus, openSocket } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf } from '../handshake/support.js';

const A = 'https://idp-a.example';
const B = 'https://idp-b.example';
/** Both providers use the same key id: the mix-up needs nothing more. */
const KID = 'signing-key-1';

interface Provider {
  url: string;
  privateKey: CryptoKey;
  fetches: number;
  server: Server;
}

async function provider(): Promise<Provider> {
  const pair = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'RS256', use: 'sig' };
  const p = { privateKey: pair.privateKey, fetches: 0 } as Provider;
  p.server = createHttpServer((_req, res) => {
    p.fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
  p.url = `http://127.0.0.1:${(p.server.address() as AddressInfo).port}/jwks.json`;
  return p;
}

function sign(key: CryptoKey, claims: { iss?: string; sub: string; aud?: string }): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: KID }).setSubject(claims.sub).setIssuedAt().setExpirationTime('10m');
  if (claims.iss) jwt = jwt.setIssuer(claims.iss);
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  return jwt.sign(key);
}

describe('several issuers, each verified with its own keys', () => {
  let a: Provider;
  let b: Provider;
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    [a, b] = await Promise.all([provider(), provider()]);
    server = await startServer({
      config: {
        ...ROOMY,
        auth: {
          // No single-issuer key: every token must name one of these two issuers.
          algorithms: ['RS256'],
          issuers: [
            { issuer: A, jwksUrl: a.url, subjectPrefix: 'a:' },
            { issuer: B, jwksUrl: b.url, subjectPrefix: 'b:', audience: 'bulwark' },
          ],
        },
      },
    });
    recorder = new EventRecorder(server);
  });
  after(async () => {
    await server.stop();
    for (const p of [a, b]) {
      p.server.closeAllConnections();
      p.server.close();
    }
  });

  async function admitted(token: string): Promise<string> {
    const client = await openSocket(server);
    client.send({ type: 'auth', token });
    const welcome = await client.next('welcome');
    client.close();
    return (welcome.user as { id: string }).id;
  }

  async function refused(token: string, reason: string): Promise<void> {
    const mark = recorder.mark();
    const client = await openSocket(server);
    client.send({ type: 'auth', token });
    assert.equal((await closeOf(client)).code, 4401);
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.detail?.reason]),
      [['auth_failed', reason]],
    );
    assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${token}` } }), 401);
  }

  it("accepts each issuer's own tokens, in its own namespace", async () => {
    assert.equal(await admitted(await sign(a.privateKey, { iss: A, sub: 'alice' })), 'a:alice');
    assert.equal(await admitted(await sign(b.privateKey, { iss: B, sub: 'alice', aud: 'bulwark' })), 'b:alice', 'the same sub at B is another user');
  });

  it("refuses a token signed with issuer A's key that claims issuer B (same kid): the JWKS mix-up", async () => {
    await refused(await sign(a.privateKey, { iss: B, sub: 'admin-at-b', aud: 'bulwark' }), 'bad_signature');
    await refused(await sign(b.privateKey, { iss: A, sub: 'someone-at-a' }), 'bad_signature');
  });

  it('refuses a token naming an issuer that is not configured, and one naming none', async () => {
    await refused(await sign(a.privateKey, { iss: 'https://idp-c.example', sub: 'carol' }), 'unknown_issuer');
    await refused(await sign(a.privateKey, { sub: 'no-iss' }), 'unknown_issuer');
  });

  it("applies each issuer's own audience", async () => {
    await refused(await sign(b.privateKey, { iss: B, sub: 'bob' }), 'bad_claims');
    assert.equal(await admitted(await sign(a.privateKey, { iss: A, sub: 'bob' })), 'a:bob', 'A requires no audience');
  });

  it('caches keys per issuer: each JWKS was fetched once', () => {
    assert.equal(a.fetches, 1);
    assert.equal(b.fetches, 1);
  });
});

describe('the single-issuer keys beside auth.issuers', () => {
  let idp: Provider;
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    idp = await provider();
    server = await startServer({ config: { ...ROOMY, auth: { issuers: [{ issuer: A, jwksUrl: idp.url, subjectPrefix: 'idp:' }] } } });
    recorder = new EventRecorder(server);
  });
  after(async () => {
    await server.stop();
    idp.server.closeAllConnections();
    idp.server.close();
  });

  it("keeps the server's own (HMAC) tokens working, with their subjects as they are", async () => {
    const client = await openSocket(server);
    client.send({ type: 'auth', token: await server.token('opsbot') });
    assert.equal(((await client.next('welcome')).user as { id: string }).id, 'opsbot');
    client.close();
  });

  it("refuses a server-signed token that names a user in another issuer's namespace", async () => {
    const mark = recorder.mark();
    const client = await openSocket(server);
    client.send({ type: 'auth', token: await server.token('idp:alice') });
    assert.equal((await closeOf(client)).code, 4401);
    assert.deepEqual(
      recorder.since(mark).map((e) => e.detail?.reason),
      ['reserved_subject'],
    );
  });

  it("refuses an HMAC token that claims the outside issuer (routed to that issuer's keys only)", async () => {
    const client = await openSocket(server);
    const { SignJWT: Sign } = await import('jose');
    const { hmacSecret } = await import('../../src/auth/keys.js');
    const forged = await new Sign({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(A).setSubject('alice').setIssuedAt().setExpirationTime('10m').sign(hmacSecret(server.config));
    client.send({ type: 'auth', token: forged });
    assert.equal((await closeOf(client)).code, 4401);
  });
});

describe('auth.issuers configuration', () => {
  const load = (issuers: unknown[], auth: Record<string, unknown> = {}): unknown => loadConfig({ env: {}, overrides: { auth: { ...auth, issuers } } });

  it('refuses contradictory entries, naming the key', () => {
    const cases: Array<[unknown[], RegExp]> = [
      [[{ issuer: A, subjectPrefix: 'a:' }], /auth\.issuers\.0: exactly one of secret, publicKey, jwksUrl/],
      [[{ issuer: A, jwksUrl: 'https://a.example/jwks', secret: 'x'.repeat(32), subjectPrefix: 'a:' }], /exactly one/],
      [[{ issuer: A, secret: 'x'.repeat(32), algorithms: ['RS256'], subjectPrefix: 'a:' }], /auth\.issuers\.0\.algorithms/],
      [[{ issuer: A, jwksUrl: 'https://a.example/jwks' }], /auth\.issuers\.0\.subjectPrefix is required/],
      [
        [
          { issuer: A, jwksUrl: 'https://a.example/jwks', subjectPrefix: 'x:' },
          { issuer: A, jwksUrl: 'https://b.example/jwks', subjectPrefix: 'y:' },
        ],
        /configured twice/,
      ],
      [
        [
          { issuer: A, jwksUrl: 'https://a.example/jwks', subjectPrefix: 'x:' },
          { issuer: B, jwksUrl: 'https://b.example/jwks', subjectPrefix: 'x:' },
        ],
        /used twice/,
      ],
      [[{ issuer: A, jwksUrl: 'https://a.example/jwks', subjectPrefix: 'acct:' }], /built-in accounts/],
      [[{ issuer: A, jwksUrl: 'https://a.example/jwks', subjectPrefix: 'Bad' }], /subjectPrefix/],
    ];
    for (const [issuers, message] of cases) assert.throws(() => load(issuers), message, JSON.stringify(issuers));
  });

  it('lets one issuer keep its subjects when the single-issuer keys are not used', () => {
    assert.doesNotThrow(() => load([{ issuer: A, jwksUrl: 'https://a.example/jwks' }], { algorithms: ['RS256'] }));
  });
});
