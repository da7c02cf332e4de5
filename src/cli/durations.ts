/** Duration options (`--for 2h`, `--since 10m`): a bad value is a usage error naming the option. */
import { parseDuration } from '../auth/jwt.js';
import { UsageError } from './args.js';

export function durationOption(name: string, value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new UsageError(`--${name} ${value} is not a duration (use 30s, 15m, 2h, 7d or milliseconds)`);
  }
}
