/**
 * The wire error codes of contract v1 (section 4), as data shared by server and client.
 * A client may rely on `code`; `message` is a plain sentence for people and never carries a
 * stack trace, SQL or a path.
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'INVALID_PAYLOAD',
  'UNKNOWN_TYPE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'NOT_A_MEMBER',
  'CONFLICT',
  'RATE_LIMITED',
  'SPAM',
  'REPLAY',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The default sentence sent with each code when a handler has nothing more specific to say. */
export const ERROR_MESSAGES: Readonly<Record<ErrorCode, string>> = {
  BAD_REQUEST: 'The frame is not a JSON object.',
  INVALID_PAYLOAD: 'The frame does not match its schema.',
  UNKNOWN_TYPE: 'The frame type is not known.',
  UNAUTHENTICATED: 'Authenticate first.',
  FORBIDDEN: 'You may not do that.',
  NOT_FOUND: 'No such room or message.',
  NOT_A_MEMBER: 'Join the room first.',
  CONFLICT: 'That already exists.',
  RATE_LIMITED: 'Too many requests; slow down.',
  SPAM: 'The message looks like spam.',
  REPLAY: 'The frame timestamp is outside the accepted window.',
  INTERNAL: 'Something went wrong on the server.',
};

export interface ErrorDetail {
  path: string;
  message: string;
}
