/**
 * Wire constants shared by the server, the SDK and the web app (docs/protocol.md, "Handshake").
 * Defined here once; everything else imports them.
 */

/** The WebSocket subprotocol a client must offer and the server selects. */
export const SUBPROTOCOL = 'bulwark.v1';

/** A second offered subprotocol `bulwark.bearer.<jwt>` carries an early token; never echoed. */
export const BEARER_PREFIX = 'bulwark.bearer.';

/** The raw WebSocket endpoint. */
export const WS_PATH = '/ws';
