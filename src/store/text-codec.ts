/**
 * How message text is turned into stored bytes and back. The plain codec stores UTF-8; the
 * encrypting codec (security/at-rest.ts) stores AES-256-GCM with a key id on each row.
 */
export interface TextCodec {
  /** `aad` binds the ciphertext to its row (the message id). */
  encode(text: string, aad?: string): { body: Buffer; keyId: string | null };
  decode(body: Buffer, keyId: string | null, aad?: string): string;
}

export const plainCodec: TextCodec = {
  encode(text) {
    return { body: Buffer.from(text, 'utf8'), keyId: null };
  },
  decode(body) {
    return body.toString('utf8');
  },
};
