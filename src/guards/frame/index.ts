/** The frame guards, in the order they run (after parse, auth state and schema). */
import { replayMaxKeys, type Config } from '../../config/schema.js';
import type { SecurityAudit } from '../../security/audit.js';
import type { RateLimits } from '../rate-limits.js';
import { rateGuard } from './rate.js';
import { replayGuard, type ReplayGuard, type SharedIdempotency } from './replay.js';
import { spamGuard, type SpamGuard } from './spam.js';
import { textGuard } from './text.js';
import type { FrameGuard } from './types.js';

export interface FrameGuardDeps {
  config: Config;
  rateLimits: RateLimits;
  audit: SecurityAudit;
  /** Cluster: idempotency keys shared by every node. */
  idempotency?: SharedIdempotency;
}

export interface FrameGuards {
  /** Run in this order: rate -> replay -> text (length, active content, sanitize) -> spam. */
  list: FrameGuard[];
  replay: ReplayGuard;
  spam: SpamGuard;
}

export function createFrameGuards(deps: FrameGuardDeps): FrameGuards {
  const { config } = deps;
  const replay = replayGuard({ windowMs: config.replay.windowMs, maxSkewMs: config.replay.maxSkewMs, maxKeys: replayMaxKeys(config.replay) }, deps.idempotency);
  const spam = spamGuard(config.spam, config.abuse.maxTracked, deps.audit);
  return {
    list: [rateGuard(deps.rateLimits), replay, textGuard({ maxChars: config.limits.maxMessageChars, xssAction: config.security.xssAction, audit: deps.audit }), spam],
    replay,
    spam,
  };
}
