/**
 * `bulwark/client`: the typed client SDK for Bulwark contract v1, for browsers and Node.
 *
 * ```ts
 * import { connect } from 'bulwark/client';
 * const client = connect({ url: 'wss://chat.example/ws', token: () => fetchToken() });
 * client.on('message', ({ room, message }) => render(room, message));
 * await client.join('general');
 * await client.send('general', 'hello');
 * ```
 */
export { BulwarkClient, connect } from './client.js';
export { SUBPROTOCOL, BEARER_PREFIX } from '../src/protocol/constants.js';
export { BulwarkError, isBulwarkError, type ClientErrorCode, type LocalErrorCode } from './errors.js';
export { fullJitter, afterServerHint, parseRetryAfter, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { CLOSE, CLOSE_CODES, type CloseCode, type CloseCodeInfo } from '../src/protocol/close-codes.js';
export { ERROR_CODES, ERROR_MESSAGES, type ErrorCode, type ErrorDetail } from '../src/protocol/errors.js';
export { ALLOWED_TAGS, ALLOWED_SCHEMES, LINK_REL } from '../src/protocol/markup.js';
export { newId } from './ids.js';
export { checkServerFrame, checkAckBody } from '../src/protocol/server-frames.js';
export { banFromReason, bannedReason } from './restrictions.js';
export type * from './types.js';
