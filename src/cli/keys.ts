/**
 * `bulwark keys rotate`: adds a new message-encryption key; new writes use it, old rows stay
 * readable. The new key's check value goes into the store, so every node sharing it must hold
 * the same key (docs/cluster.md "Keys"). With `BULWARK_ENCRYPTION_KEYS` the command cannot edit
 * the environment: it prints the two values to roll out, first the key readable everywhere,
 * then current.
 *
 * `bulwark keys adopt-jwt`: records the configured JWT key as the one the store expects, after
 * an operator changed it on purpose (nodes with another key then refuse to start).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { KEYS_FILE, loadKeyRing, rotateKeyFile, type KeyRing } from '../security/at-rest.js';
import { JWT_KEY_ID, jwtKeyMaterial, keyCheckValue } from '../security/key-check.js';
import { splitArgs } from './args.js';
import { openStore } from './open-store.js';

const USAGE = 'usage: bulwark keys rotate | bulwark keys adopt-jwt';

export async function keys(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'rotate' && action !== 'adopt-jwt') {
    console.error(USAGE);
    return 1;
  }
  const config = loadConfig({ args: splitArgs(rest, []).config });
  console.error(`bulwark keys: ${config.databaseUrl ? 'PostgreSQL (databaseUrl)' : `data directory ${config.dataDir}`}`);
  return action === 'rotate' ? rotate(config) : adoptJwt(config);
}

function nextId(ring: KeyRing): string {
  let n = ring.keys.size + 1;
  while (ring.keys.has(`k${n}`)) n++;
  return `k${n}`;
}

const envValue = (entries: Array<[string, Buffer]>): string => entries.map(([id, key]) => `${id}:${key.toString('base64')}`).join(',');

/** Records a new key's check value; false (with a message) when the store already expects another key under that id. */
async function record(config: Config, keyId: string, key: Buffer): Promise<boolean> {
  const store = await openStore(config);
  try {
    const check = keyCheckValue(key);
    const stored = await store.claimKeyCheck({ kind: 'encryption', keyId, check, createdAt: Date.now() });
    if (stored.check === check) return true;
    console.error(`bulwark keys: the store already holds a different key ${keyId} (rotated from another node?): use that key ring instead`);
    return false;
  } finally {
    await store.close();
  }
}

async function rotate(config: Config): Promise<number> {
  if (process.env.BULWARK_ENCRYPTION_KEYS) {
    const ring = loadKeyRing(config.dataDir);
    const id = nextId(ring);
    const key = randomBytes(32);
    if (!(await record(config, id, key))) return 1;
    const old = [...ring.keys].filter(([k]) => k !== ring.current);
    const current: [string, Buffer] = [ring.current, ring.keys.get(ring.current)!];
    console.log(`new key ${id}, recorded in the store. Roll it out in two steps (the last entry is the current key):`);
    console.log(`1. on every node, so every node can read ${id} before any writes with it:`);
    console.log(`   BULWARK_ENCRYPTION_KEYS=${envValue([...old, [id, key], current])}`);
    console.log(`2. then, on every node, to make ${id} current:`);
    console.log(`   BULWARK_ENCRYPTION_KEYS=${envValue([...old, current, [id, key]])}`);
    return 0;
  }
  const id = rotateKeyFile(config.dataDir);
  const ring = loadKeyRing(config.dataDir, {});
  if (!(await record(config, id, ring.keys.get(id)!))) return 1;
  console.log(`new current key ${id} in ${join(config.dataDir, KEYS_FILE)}; a running server picks it up within a second`);
  if (config.databaseUrl) console.log(`in a cluster, every node needs this ${KEYS_FILE} (or one BULWARK_ENCRYPTION_KEYS for all): copy it to each node's data directory`);
  return 0;
}

async function adoptJwt(config: Config): Promise<number> {
  const store = await openStore(config);
  try {
    await store.replaceKeyCheck({ kind: 'jwt', keyId: JWT_KEY_ID, check: keyCheckValue(jwtKeyMaterial(config)), createdAt: Date.now() });
  } finally {
    await store.close();
  }
  console.log('the configured JWT key is now the one the store expects; nodes with another key refuse to start');
  return 0;
}
