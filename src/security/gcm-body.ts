/**
 * The stored form of an encrypted message text: IV (12 bytes) | GCM tag (16) | ciphertext, with
 * the message id as associated data. `decodeBody` is the one reader of that form. It is
 * self-contained on purpose (only its parameters and the `Buffer` global): the decrypt thread
 * (decrypt-thread.ts) runs this same function from its source text, so the two threads can never
 * disagree about the format.
 */
import type { createDecipheriv } from 'node:crypto';

export const IV_BYTES = 12;
export const TAG_BYTES = 16;

export function decodeBody(decipherWith: typeof createDecipheriv, keys: ReadonlyMap<string, Uint8Array>, body: Buffer, keyId: string | null, aad: string | undefined): string {
  if (keyId === null) return body.toString('utf8');
  const key = keys.get(keyId);
  if (!key) throw new Error(`message key ${keyId} is not in the key ring`);
  // IV_BYTES (12) and IV_BYTES + TAG_BYTES (28) written out: this function may not reach module scope.
  const decipher = decipherWith('aes-256-gcm', key, body.subarray(0, 12));
  decipher.setAuthTag(body.subarray(12, 28));
  if (aad) decipher.setAAD(Buffer.from(aad, 'utf8'));
  const text = decipher.update(body.subarray(28));
  decipher.final(); // verifies the tag; GCM has no trailing block
  return text.toString('utf8');
}
