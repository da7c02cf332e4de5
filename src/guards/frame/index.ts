/** The frame guards, in the order they run (after parse, auth state and schema). */
import type { Config } from '../../config/schema.js';
import type { RateLimits } from '../rate-limits.js';
import { rateGuard } from './rate.js';
import { textGuard } from './text.js';
import type { FrameGuard } from './types.js';

export interface FrameGuardDeps {
  config: Config;
  rateLimits: RateLimits;
}

export function createFrameGuards(deps: FrameGuardDeps): FrameGuard[] {
  return [rateGuard(deps.rateLimits), textGuard(deps.config.limits.maxMessageChars)];
}
