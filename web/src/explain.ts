/** A refusal or failure from the SDK, told in a sentence a person can act on. */
import { BulwarkError } from '../../client/index.js';

export function explain(error: unknown): string {
  if (!(error instanceof BulwarkError)) return 'Something went wrong.';
  switch (error.code) {
    case 'RATE_LIMITED': {
      const s = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
      return `You are sending too fast. Try again in ${s} s.`;
    }
    case 'SPAM':
      return 'That message looks like spam, so it was not sent.';
    case 'OUTBOX_FULL':
      return 'Too many messages are waiting for the connection. Wait until it is back.';
    case 'FORBIDDEN':
      return error.message || 'You may not do that.';
    case 'CONFLICT':
      return 'A room with that name exists already.';
    case 'NOT_FOUND':
      return 'No such room or message.';
    case 'TIMEOUT':
    case 'DISCONNECTED':
      return 'The connection is down; try again when it is back.';
    case 'CLOSED':
      return 'Not connected.';
    case 'INVALID_PAYLOAD':
      return error.details?.map((d) => d.message).join(' ') || error.message;
    default:
      return error.message;
  }
}

/** How long a refusal's notice should stay: at least until a rate limit lifts. */
export function noticeMs(error: unknown, fallback: number): number {
  return error instanceof BulwarkError && error.retryAfterMs !== undefined ? Math.max(fallback, Math.min(error.retryAfterMs, 60_000)) : fallback;
}
