/**
 * Structured logging with pino. Writes are asynchronous so the hot path never waits on stdout.
 * Credentials are redacted by path as a second line of defence behind the audit scrubber.
 */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'bulwark' },
      redact: {
        paths: ['token', '*.token', 'password', '*.password', 'req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
