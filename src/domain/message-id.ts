/**
 * Message ids that sort by creation time: 9 base-36 digits of milliseconds, a per-process random
 * tag and a counter. Index inserts then land at the end of the B-tree instead of at random pages
 * (random UUIDs made every insert touch a random leaf), and ids stay unique across nodes.
 */
import { randomBytes } from 'node:crypto';

const TAG = randomBytes(6).toString('base64url');
let counter = 0;

export function newMessageId(now = Date.now()): string {
  counter = (counter + 1) % 1_679_616; // 36^4
  return `${now.toString(36).padStart(9, '0')}${counter.toString(36).padStart(4, '0')}${TAG}`;
}
