/**
 * History pages are decrypted on a worker thread. Every AES-GCM decryption creates a native
 * Decipher object, and the young-generation collection that frees them pays for each one: with
 * 100 per page, a scavenge of the server's heap took 4.5 ms instead of 0.4 ms and set the p99 of
 * a history page (and of every frame that waited behind it). On the thread, the main heap sees
 * one message out and one array of strings back per page. Rows are packed into one buffer whose
 * memory is transferred, not copied. Single rows (a reply target, a deleted message) stay on the
 * calling thread.
 */
import { Worker } from 'node:worker_threads';
import type { PagedText } from '../store/text-codec.js';
import type { KeyRing } from './at-rest.js';
import { decodeBody } from './gcm-body.js';

/** The thread: CommonJS evaluated in the worker (no loader needed in src or dist), decoding with `decodeBody` itself. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createDecipheriv } = require('node:crypto');
const decodeBody = ${decodeBody.toString()};
let keys = new Map(workerData.keys);
parentPort.on('message', (m) => {
  if (m.keys) {
    keys = new Map(m.keys);
    return;
  }
  const data = Buffer.from(m.data);
  const texts = new Array(m.keyIds.length);
  // One row that cannot be read (unknown key, tampered, moved) is null; the rest of the page stands.
  for (let i = 0; i < texts.length; i++) {
    try {
      texts[i] = decodeBody(createDecipheriv, keys, data.subarray(m.offsets[i], m.offsets[i + 1]), m.keyIds[i], m.aads[i]);
    } catch {
      texts[i] = null;
    }
  }
  parentPort.postMessage({ seq: m.seq, texts });
});
`;

type Reply = { seq: number; texts: Array<string | null> };

const keyEntries = (ring: KeyRing): Array<[string, Uint8Array]> => [...ring.keys].map(([id, key]) => [id, new Uint8Array(key)]);

export class DecryptThread {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (texts: Array<string | null>) => void; reject: (error: Error) => void }>();

  /** `ring` reads the owner's current key ring: the thread keeps no copy of its own to go stale. */
  constructor(private readonly ring: () => KeyRing) {}

  /** The owner's key ring changed (a rotation picked up while running). */
  ringChanged(): void {
    this.worker?.postMessage({ keys: keyEntries(this.ring()) });
  }

  /** The page's texts in order; a row that cannot be decrypted is null. */
  decryptAll(rows: readonly PagedText[]): Promise<Array<string | null>> {
    if (rows.length === 0) return Promise.resolve([]);
    let size = 0;
    for (const row of rows) size += typeof row.body === 'string' ? row.body.length >>> 1 : row.body.length;
    // Its own memory (never the shared pool), so it can be transferred.
    const data = Buffer.allocUnsafeSlow(size);
    const offsets = new Array<number>(rows.length + 1);
    const keyIds = new Array<string | null>(rows.length);
    const aads = new Array<string>(rows.length);
    let at = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      offsets[i] = at;
      const body = row.body;
      if (typeof body === 'string') at += data.write(body, at, 'hex');
      else {
        data.set(body, at);
        at += body.length;
      }
      keyIds[i] = row.keyId;
      aads[i] = row.aad;
    }
    offsets[rows.length] = at;
    const seq = ++this.seq;
    const worker = this.thread();
    // A page in flight keeps the process alive (a CLI reading history); an idle thread does not.
    if (this.waiting.size === 0) worker.ref();
    return new Promise<Array<string | null>>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      worker.postMessage({ seq, data: data.buffer, offsets, keyIds, aads }, [data.buffer]);
    });
  }

  /** Stops the thread; pages still in flight are refused. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
    this.failAll(new Error('decrypt thread closed'));
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { keys: keyEntries(this.ring()) },
      execArgv: [],
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiter = this.waiting.get(reply.seq);
      if (!waiter) return;
      this.waiting.delete(reply.seq);
      if (this.waiting.size === 0) worker.unref();
      waiter.resolve(reply.texts);
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(new Error('decrypt thread exited'));
    });
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiters) w.reject(error);
  }
}
