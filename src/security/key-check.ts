/**
 * One key ring per cluster (docs/cluster.md "Keys"). Every node sharing a store must encrypt and
 * decrypt message text with the same keys and verify tokens with the same JWT key; a node with a
 * key of its own (its own random `keys.json`, its own generated `jwt-secret`) would write rows no
 * other node can read, or refuse tokens the others accept. So the store keeps a check value per
 * key: HMAC-SHA256 of a fixed label under the key, never the key. The first node (or `bulwark keys
 * rotate`) to use a key records it; a node whose key gives another value refuses to start. For a
 * key already used by stored rows but with no check value yet (a store from before this check),
 * one of those rows is decrypted with the node's key first.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { hmacSecret } from '../auth/keys.js';
import type { KeyCheckRecord, Store } from '../store/store.js';
import type { TextCodec } from '../store/text-codec.js';
import type { KeyRing } from './at-rest.js';

const LABEL = 'bulwark key check v1';
/** The JWT key's id in the store: one verification key per cluster, whatever its kind. */
export const JWT_KEY_ID = 'current';

export function keyCheckValue(key: Uint8Array): string {
  return createHmac('sha256', key).update(LABEL).digest('base64url');
}

/** What the JWT key check is made of: the HMAC secret, the public key's PEM, or the JWKS URL (each tagged with its kind). */
export function jwtKeyMaterial(config: Config): Uint8Array {
  const { auth } = config;
  if (auth.jwksUrl) return Buffer.from(`jwks:${auth.jwksUrl}`, 'utf8');
  if (auth.publicKey) {
    const pem = auth.publicKey.includes('-----BEGIN') ? auth.publicKey : readFileSync(auth.publicKey, 'utf8');
    return Buffer.from(`spki:${pem.replace(/\s+/g, '')}`, 'utf8');
  }
  return Buffer.concat([Buffer.from('hmac:', 'utf8'), hmacSecret(config)]);
}

export interface NodeKeys {
  /** The encryption key ring and a codec that decodes with it (absent: encryption off). */
  encryption?: { ring: KeyRing; codec: TextCodec } | undefined;
  jwt: Uint8Array;
}

/** One sentence per key that does not match the store; empty when all do (their check values are then recorded). */
export async function keyMismatches(store: Store, keys: NodeKeys, now = Date.now()): Promise<string[]> {
  const problems: string[] = [];
  const claim = (record: Omit<KeyCheckRecord, 'createdAt'>): Promise<KeyCheckRecord> => store.claimKeyCheck({ ...record, createdAt: now });
  for (const [keyId, key] of keys.encryption?.ring.keys ?? []) {
    const check = keyCheckValue(key);
    const known = await store.getKeyCheck('encryption', keyId);
    // A store written before check values existed: test the key on a row it encrypted first.
    const sample = known ? undefined : await store.sampleEncrypted(keyId);
    if (sample) {
      try {
        keys.encryption!.codec.decode(sample.body, sample.keyId, sample.aad);
      } catch {
        problems.push(`encryption key ${keyId} cannot decrypt the messages the store holds under ${keyId}`);
        continue;
      }
    }
    const stored = await claim({ kind: 'encryption', keyId, check });
    if (stored.check !== check) problems.push(`encryption key ${keyId} is not the key ${keyId} the store was written with`);
  }
  const check = keyCheckValue(keys.jwt);
  const stored = await claim({ kind: 'jwt', keyId: JWT_KEY_ID, check });
  if (stored.check !== check) problems.push('the JWT key is not the one the store was written with');
  return problems;
}
