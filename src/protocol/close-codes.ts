/**
 * WebSocket close codes of contract v1. `reconnect` tells a client whether trying again can
 * help: 4401/4403 mean "stop unless you have a new token", 4429 and 1001 mean "back off, then retry".
 */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_UTF8: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  MALFORMED: 4400,
  UNAUTHENTICATED: 4401,
  FORBIDDEN: 4403,
  AUTH_TIMEOUT: 4408,
  SLOW_CONSUMER: 4409,
  TOO_MANY: 4429,
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

export interface CloseCodeInfo {
  meaning: string;
  /** Whether an automatic reconnect can succeed without the user changing anything. */
  reconnect: boolean;
}

export const CLOSE_CODES: Readonly<Record<CloseCode, CloseCodeInfo>> = {
  1000: { meaning: 'normal closure', reconnect: false },
  1001: { meaning: 'server going away', reconnect: true },
  1002: { meaning: 'protocol error', reconnect: false },
  1003: { meaning: 'binary frame refused', reconnect: false },
  1007: { meaning: 'invalid UTF-8', reconnect: false },
  1008: { meaning: 'policy violation (fragment or ping flood)', reconnect: false },
  1009: { meaning: 'frame too big', reconnect: false },
  1011: { meaning: 'internal error', reconnect: true },
  4400: { meaning: 'too many malformed frames', reconnect: false },
  4401: { meaning: 'unauthenticated, expired or revoked', reconnect: false },
  4403: { meaning: 'forbidden or banned', reconnect: false },
  4408: { meaning: 'authentication timeout', reconnect: true },
  4409: { meaning: 'slow consumer', reconnect: true },
  4429: { meaning: 'too many connections or abuse', reconnect: true },
};
