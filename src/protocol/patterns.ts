/**
 * The identifier patterns of contract v1 (docs/protocol.md "Frames"), as plain regular
 * expressions shared by the client frames' schemas (./frames.ts) and the server frames' checks
 * (./server-frames.ts), which the SDK runs without any dependency.
 */

/** Frame ids, room names and message ids: 1–64 chars of `[A-Za-z0-9_-]`. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A user id (a JWT `sub`): printable. */
export const USER_ID_PATTERN = /^[^\u0000-\u001f\u007f]+$/;
