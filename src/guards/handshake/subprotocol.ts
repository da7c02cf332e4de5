/** The client must offer `bulwark.v1` (contract section 2, step 4), else 400. */
import { SUBPROTOCOL } from '../../protocol/constants.js';
import type { HandshakeGuard } from './types.js';

export { BEARER_PREFIX, SUBPROTOCOL } from '../../protocol/constants.js';

export function subprotocolGuard(): HandshakeGuard {
  return {
    name: 'subprotocol',
    check: function subprotocol(req) {
      return req.protocols.includes(SUBPROTOCOL) ? undefined : { reason: 'subprotocol', event: 'subprotocol_refused' };
    },
  };
}
