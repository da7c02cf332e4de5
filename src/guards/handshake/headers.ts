/**
 * Bounds the handshake request itself: a request with thousands of headers or a huge header
 * block is refused before any other work (Node's parser already caps the byte size at
 * `maxHeaderSize`; this also caps the count, which Node would silently truncate).
 */
import type { HandshakeGuard } from './types.js';

export function headersGuard(limits: { maxHeaderCount: number; maxHeaderBytes: number }): HandshakeGuard {
  return {
    name: 'headers',
    check: function headers(req) {
      if (req.headerCount > limits.maxHeaderCount || req.headerBytes > limits.maxHeaderBytes) {
        return { reason: 'headers', event: 'headers_too_large', detail: { count: req.headerCount, bytes: req.headerBytes } };
      }
      return undefined;
    },
  };
}
