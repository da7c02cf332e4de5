/** The client must offer `bulwark.v1` (contract section 2, step 4), else 400. */
import type { HandshakeGuard } from './types.js';

export const SUBPROTOCOL = 'bulwark.v1';
export const BEARER_PREFIX = 'bulwark.bearer.';

export function subprotocolGuard(): HandshakeGuard {
  return {
    name: 'subprotocol',
    check: function subprotocol(req) {
      return req.protocols.includes(SUBPROTOCOL) ? undefined : { reason: 'subprotocol', event: 'subprotocol_refused' };
    },
  };
}
