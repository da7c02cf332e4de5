/**
 * How message text is turned into stored bytes and back. The plain codec stores UTF-8; the
 * encrypting codec (security/at-rest.ts) stores AES-256-GCM with a key id on each row.
 */
/** One stored text as the store holds it. */
export interface EncodedText {
  body: Buffer;
  keyId: string | null;
  /** Associated data (the message id). */
  aad: string;
}

/** A stored text of a history page: its bytes, or the same bytes in hex (a page read as text, store/rows.ts `MessageRow.body`). */
export interface PagedText extends Omit<EncodedText, 'body'> {
  body: Buffer | string;
}

export interface TextCodec {
  /** `aad` binds the ciphertext to its row (the message id). */
  encode(text: string, aad?: string): { body: Buffer; keyId: string | null };
  decode(body: Buffer, keyId: string | null, aad?: string): string;
  /** Decodes a page of rows off the calling thread, when the codec can (see security/decrypt-thread.ts); a row it cannot read is null. */
  decodeMany?(rows: readonly PagedText[]): Promise<Array<string | null>>;
}

export const plainCodec: TextCodec = {
  encode(text) {
    return { body: Buffer.from(text, 'utf8'), keyId: null };
  },
  decode(body) {
    return body.toString('utf8');
  },
};
