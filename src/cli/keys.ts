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
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS_FILE, loadKeyRing, rotateKeyFile, type KeyRing } from '../security/at-rest.js';
import { JWT_KEY_ID, jwtKeyMaterial, keyCheckValue } from '../security/key-check.js';
import type { Command } from './command.js';
import { CliError, resolveContext, type CliContext } from './context.js';
import { openStore } from './open-store.js';

function nextId(ring: KeyRing): string {
  let n = ring.keys.size + 1;
  while (ring.keys.has(`k${n}`)) n++;
  return `k${n}`;
}

const envValue = (entries: Array<[string, Buffer]>): string => entries.map(([id, key]) => `${id}:${key.toString('base64')}`).join(',');

/** Records a new key's check value; refuses when the store already expects another key under that id. */
async function record(context: CliContext, keyId: string, key: Buffer): Promise<void> {
  const store = await openStore(context);
  try {
    const check = keyCheckValue(key);
    const stored = await store.claimKeyCheck({ kind: 'encryption', keyId, check, createdAt: Date.now() });
    if (stored.check !== check) throw new CliError(`the store already holds a different key ${keyId} (rotated from another node?): use that key ring instead`);
  } finally {
    await store.close();
  }
}

const rotate: Command = {
  summary: 'add a new current message-encryption key (keys.json, or printed for BULWARK_ENCRYPTION_KEYS)',
  usage: 'bulwark keys rotate',
  description:
    "New messages are encrypted with the new key; older ones stay readable with theirs (keys are never removed). The key's check value is recorded in the store, so every node sharing it must hold the same key. A running server picks a new keys.json up within a second. Back up keys.json after rotating. With BULWARK_ENCRYPTION_KEYS the two values to roll out to every node are printed instead.",
  options: {},
  config: true,
  async run(args) {
    const context = resolveContext(args);
    const { config, dataDir } = context;
    if (process.env.BULWARK_ENCRYPTION_KEYS) {
      const ring = loadKeyRing(dataDir);
      const id = nextId(ring);
      const key = randomBytes(32);
      await record(context, id, key);
      const old = [...ring.keys].filter(([k]) => k !== ring.current);
      const current: [string, Buffer] = [ring.current, ring.keys.get(ring.current)!];
      console.log(`new key ${id}, recorded in the store. Roll it out in two steps (the last entry is the current key):`);
      console.log(`1. on every node, so every node can read ${id} before any writes with it:`);
      console.log(`   BULWARK_ENCRYPTION_KEYS=${envValue([...old, [id, key], current])}`);
      console.log(`2. then, on every node, to make ${id} current:`);
      console.log(`   BULWARK_ENCRYPTION_KEYS=${envValue([...old, current, [id, key]])}`);
      return 0;
    }
    if (!existsSync(join(dataDir, KEYS_FILE)))
      throw new CliError(`no ${KEYS_FILE} in ${dataDir}: run "bulwark serve" once with this data directory, or point --data-dir at the server's`);
    const id = rotateKeyFile(dataDir);
    const ring = loadKeyRing(dataDir, {});
    await record(context, id, ring.keys.get(id)!);
    console.log(`new current key ${id} in ${join(dataDir, KEYS_FILE)}; a running server picks it up within a second`);
    if (config.databaseUrl) console.log(`in a cluster, every node needs this ${KEYS_FILE} (or one BULWARK_ENCRYPTION_KEYS for all): copy it to each node's data directory`);
    return 0;
  },
};

const adoptJwt: Command = {
  summary: 'record the configured JWT key as the one the store expects (after changing it on purpose)',
  usage: 'bulwark keys adopt-jwt',
  description: 'Nodes started with another JWT key then refuse to start (docs/cluster.md "Keys").',
  options: {},
  config: true,
  async run(args) {
    const context = resolveContext(args);
    const store = await openStore(context);
    try {
      await store.replaceKeyCheck({ kind: 'jwt', keyId: JWT_KEY_ID, check: keyCheckValue(jwtKeyMaterial(context.config)), createdAt: Date.now() });
    } finally {
      await store.close();
    }
    console.log('the configured JWT key is now the one the store expects; nodes with another key refuse to start');
    return 0;
  },
};

export const keys: Command = {
  summary: 'manage keys: keys rotate (message encryption) | keys adopt-jwt (after changing the JWT key)',
  usage: 'bulwark keys <sub-command>',
  options: {},
  config: false,
  subcommands: { rotate, 'adopt-jwt': adoptJwt },
};
