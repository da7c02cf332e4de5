/**
 * Encryption of message text at rest: AES-256-GCM (node:crypto) with a fresh 96-bit IV per
 * message and the message id as associated data, so a ciphertext cannot be moved to another
 * row. Each row records the id of its key. Keys come from `BULWARK_ENCRYPTION_KEYS`
 * (`id:base64,id:base64`, the last one current) or from `<dataDir>/keys.json` (mode 0600),
 * created on first start. `bulwark keys rotate` adds a key: new writes use it, old rows stay
 * readable with theirs.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, tighten } from '../store/private-files.js';
import type { PagedText, TextCodec } from '../store/text-codec.js';
import { DecryptThread } from './decrypt-thread.js';
import { decodeBody, IV_BYTES, TAG_BYTES } from './gcm-body.js';

export const KEYS_FILE = 'keys.json';
/** IVs are cut from a pool refilled from the CSPRNG: one getrandom call per 512 messages, not one each. */
const IV_POOL_BYTES = IV_BYTES * 512;

class IvPool {
  private pool = Buffer.allocUnsafe(IV_POOL_BYTES);
  private offset = IV_POOL_BYTES;

  /** Writes a fresh random IV into `target` at `at`. */
  take(target: Buffer, at: number): void {
    if (this.offset === IV_POOL_BYTES) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    this.pool.copy(target, at, this.offset, this.offset + IV_BYTES);
    this.offset += IV_BYTES;
  }
}

export interface KeyRing {
  current: string;
  keys: Map<string, Buffer>;
}

interface KeysFile {
  current: string;
  keys: Record<string, string>;
}

function parseEnvKeys(raw: string): KeyRing {
  const keys = new Map<string, Buffer>();
  let current = '';
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(':');
    if (colon <= 0) throw new Error('BULWARK_ENCRYPTION_KEYS: expected id:base64 entries');
    const id = part.slice(0, colon);
    const key = Buffer.from(part.slice(colon + 1), 'base64');
    if (key.length !== 32) throw new Error(`BULWARK_ENCRYPTION_KEYS: key ${id} must be 32 bytes`);
    keys.set(id, key);
    current = id;
  }
  if (!current) throw new Error('BULWARK_ENCRYPTION_KEYS: no key');
  return { current, keys };
}

function readKeysFile(path: string): KeyRing {
  const data = JSON.parse(readFileSync(path, 'utf8')) as KeysFile;
  const keys = new Map(Object.entries(data.keys).map(([id, b64]) => [id, Buffer.from(b64, 'base64')] as const));
  if (!keys.has(data.current)) throw new Error(`${path}: current key ${data.current} is missing`);
  return { current: data.current, keys };
}

function writeKeysFile(path: string, ring: KeyRing): void {
  const data: KeysFile = { current: ring.current, keys: Object.fromEntries([...ring.keys].map(([id, k]) => [id, k.toString('base64')])) };
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

/**
 * Loads the key ring from the environment, or from the data directory; the key file is created
 * there when absent only if `create` (only `serve` does: a new key for an existing database
 * would make every stored message unreadable to the command that made it).
 */
export function loadKeyRing(dataDir: string, env: NodeJS.ProcessEnv = process.env, create = true): KeyRing {
  if (env.BULWARK_ENCRYPTION_KEYS) return parseEnvKeys(env.BULWARK_ENCRYPTION_KEYS);
  const path = join(dataDir, KEYS_FILE);
  if (existsSync(path)) {
    tighten(path, 0o600);
    return readKeysFile(path);
  }
  if (!create) throw new Error(`no encryption key file in ${dataDir} (${KEYS_FILE} is missing)`);
  ensurePrivateDir(dataDir);
  const ring: KeyRing = { current: 'k1', keys: new Map([['k1', randomBytes(32)]]) };
  writeKeysFile(path, ring);
  return ring;
}

/** Adds a new current key to `<dataDir>/keys.json`; returns its id. */
export function rotateKeyFile(dataDir: string): string {
  const ring = loadKeyRing(dataDir, {}, false);
  let n = ring.keys.size + 1;
  while (ring.keys.has(`k${n}`)) n++;
  const id = `k${n}`;
  ring.keys.set(id, randomBytes(32));
  ring.current = id;
  writeKeysFile(join(dataDir, KEYS_FILE), ring);
  return id;
}

export class EncryptingCodec implements TextCodec {
  private mtimeMs = 0;
  private readonly ivs = new IvPool();
  /** Started on the first page decoded; `close()` stops it. */
  private readonly pages: DecryptThread;

  constructor(
    private ring: KeyRing,
    private readonly reloadFrom?: string,
  ) {
    if (reloadFrom && existsSync(reloadFrom)) this.mtimeMs = statSync(reloadFrom).mtimeMs;
    this.pages = new DecryptThread(() => this.ring);
  }

  /** A page of rows, decrypted on the codec's thread (same format as `decode`); an unreadable row is null. */
  decodeMany(rows: readonly PagedText[]): Promise<Array<string | null>> {
    return this.pages.decryptAll(rows);
  }

  /** Stops the decryption thread (it is unreferenced while idle, so this is tidiness, not a leak fix). */
  close(): Promise<void> {
    return this.pages.close();
  }

  /** Picks up a rotation done by the CLI while the server runs. */
  reloadIfChanged(): boolean {
    if (!this.reloadFrom || !existsSync(this.reloadFrom)) return false;
    const mtime = statSync(this.reloadFrom).mtimeMs;
    if (mtime === this.mtimeMs) return false;
    this.mtimeMs = mtime;
    this.ring = readKeysFile(this.reloadFrom);
    this.pages.ringChanged();
    return true;
  }

  /** The keys in use (checked against the store at start-up, security/key-check.ts). */
  get keyRing(): KeyRing {
    return this.ring;
  }

  get currentKeyId(): string {
    return this.ring.current;
  }

  encode(text: string, aad?: string): { body: Buffer; keyId: string | null } {
    const key = this.ring.keys.get(this.ring.current)!;
    // One buffer: IV | tag | ciphertext (GCM ciphertext is as long as the plaintext).
    const length = Buffer.byteLength(text, 'utf8');
    const body = Buffer.allocUnsafe(IV_BYTES + TAG_BYTES + length);
    this.ivs.take(body, 0);
    const cipher = createCipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
    if (aad) cipher.setAAD(Buffer.from(aad, 'utf8'));
    const head = cipher.update(text, 'utf8');
    head.copy(body, IV_BYTES + TAG_BYTES);
    const tail = cipher.final();
    tail.copy(body, IV_BYTES + TAG_BYTES + head.length);
    cipher.getAuthTag().copy(body, IV_BYTES);
    return { body, keyId: this.ring.current };
  }

  decode(body: Buffer, keyId: string | null, aad?: string): string {
    return decodeBody(createDecipheriv, this.ring.keys, body, keyId, aad);
  }
}
