/** HS256 JWTs signed in the load generator (thousands per second, no library round trip). */
import { createHmac } from 'node:crypto';

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

export function signHs256(secret: Buffer, claims: Record<string, unknown>): string {
  const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** A user's token; `claims` adds to it (the attack scenario's admin: `{ roles: ['admin'] }`). */
export function benchToken(secret: Buffer, sub: string, ttlSeconds = 3600, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return signHs256(secret, { sub, name: sub, iat: now, exp: now + ttlSeconds, ...claims });
}
