/**
 * The HMAC verification path (src/auth/hmac-jws.ts) against jose's own `jwtVerify` on the same
 * tokens: everything jose accepts it accepts with the same payload, everything jose refuses it
 * refuses with the same error class, and a signature has exactly one valid spelling.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors } from 'jose';
import { verifyHmacJwt } from '../../src/auth/hmac-jws.js';

const secret = randomBytes(32);
const key = createSecretKey(secret);
const now = Math.floor(Date.now() / 1000);
const options = { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'], clockTolerance: 5 };

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A token with any header and payload, signed with `secret` (or another key) under `hash`. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, hash = 'sha256', with_: Buffer = secret): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(hash, with_).update(input).digest('base64url')}`;
}

/** Both verifiers' outcome: the payload, or the name of the error class thrown. */
async function outcomes(token: string, opts: typeof options & Record<string, unknown> = options): Promise<[unknown, unknown]> {
  const mine = (() => {
    try {
      return verifyHmacJwt(token, key, opts).payload;
    } catch (error) {
      return (error as Error).constructor.name;
    }
  })();
  const jose = await jwtVerify(token, secret, opts).then(
    (r) => r.payload,
    (error: Error) => error.constructor.name,
  );
  return [mine, jose];
}

describe('HMAC token verification with node:crypto', () => {
  const claims = { sub: 'u1', exp: now + 60, iat: now, name: 'Ann' };

  it('accepts what jose accepts, with the same payload', async () => {
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secret);
    const [mine, jose] = await outcomes(token);
    assert.deepEqual(mine, jose);
    assert.equal((mine as { sub: string }).sub, 'u1');
  });

  it('refuses what jose refuses, with the same error class', async () => {
    const cases: Array<[string, string]> = [
      ['expired', forge({ alg: 'HS256' }, { ...claims, exp: now - 60 })],
      ['not yet valid', forge({ alg: 'HS256' }, { ...claims, nbf: now + 600 })],
      ['no exp', forge({ alg: 'HS256' }, { sub: 'u1' })],
      ['another secret', forge({ alg: 'HS256' }, claims, 'sha256', randomBytes(32))],
      ['HS384 to an HS256-only verifier', forge({ alg: 'HS384' }, claims, 'sha384')],
      ['alg none', `${b64({ alg: 'none' })}.${b64(claims)}.`],
      ['unknown crit extension', forge({ alg: 'HS256', crit: ['exp-policy'], 'exp-policy': 1 }, claims)],
      ['unencoded payload (b64: false)', forge({ alg: 'HS256', crit: ['b64'], b64: false }, claims)],
      [
        'payload not JSON',
        (() => {
          const input = `${b64({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}`;
          return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
        })(),
      ],
      ['four parts', `${forge({ alg: 'HS256' }, claims)}.x`],
      ['two parts', `${b64({ alg: 'HS256' })}.${b64(claims)}`],
    ];
    for (const [name, token] of cases) {
      const [mine, jose] = await outcomes(token);
      assert.equal(typeof mine, 'string', `${name}: refused`);
      assert.equal(typeof jose, 'string', `${name}: jose refuses it too`);
    }
    const [mine, jose] = await outcomes(forge({ alg: 'HS256' }, { ...claims, exp: now - 60 }));
    assert.equal(mine, jose, 'an expired token is the same JWTExpired');
    assert.equal(mine, errors.JWTExpired.name);
  });

  it('checks iss and aud through jose', async () => {
    const token = forge({ alg: 'HS256' }, { ...claims, iss: 'https://a.example', aud: 'chat' });
    assert.equal((verifyHmacJwt(token, key, { ...options, issuer: 'https://a.example', audience: 'chat' }).payload as { iss: string }).iss, 'https://a.example');
    assert.throws(() => verifyHmacJwt(token, key, { ...options, issuer: 'https://b.example' }), errors.JWTClaimValidationFailed);
    assert.throws(() => verifyHmacJwt(token, key, { ...options, audience: 'admin' }), errors.JWTClaimValidationFailed);
  });

  it('gives a signature one spelling: padding, a flipped last character or a stray character are refused', () => {
    const token = forge({ alg: 'HS256' }, claims);
    assert.ok(verifyHmacJwt(token, key, options));
    const sig = token.slice(token.lastIndexOf('.') + 1);
    const head = token.slice(0, token.lastIndexOf('.') + 1);
    // The last base64url character of a 32-byte MAC carries 2 spare bits: another letter can decode to the same bytes.
    const last = sig.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = [...alphabet].find((c) => c !== last && Buffer.from(sig.slice(0, -1) + c, 'base64url').equals(Buffer.from(sig, 'base64url')));
    assert.ok(twin, 'Buffer decodes another spelling to the same bytes');
    const spellings = [`${sig}=`, `${sig}!`, ` ${sig}`, sig.slice(0, -1), sig.slice(0, -1) + twin];
    for (const s of spellings) assert.throws(() => verifyHmacJwt(head + s, key, options), errors.JWSSignatureVerificationFailed, JSON.stringify(s));
  });
});
