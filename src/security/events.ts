/**
 * The catalogue of security events: every refusal and every defensive action has exactly one
 * type here, with a fixed severity. Severity `warning` and above is pushed to connected admins.
 */
import type { Severity } from '../store/store.js';

export const SECURITY_EVENTS = {
  // handshake (contract section 2)
  origin_rejected: 'warning',
  handshake_rate_limited: 'warning',
  capacity_refused: 'warning',
  subprotocol_refused: 'notice',
  query_token_refused: 'warning',
  headers_too_large: 'warning',
  banned_refused: 'warning',
  upgrade_invalid: 'notice',
  handshake_timeout: 'notice',
  handshake_error: 'error',
  // authentication (contract section 3)
  auth_failed: 'warning',
  auth_timeout: 'notice',
  token_expired: 'notice',
  token_revoked: 'warning',
  refresh_subject_mismatch: 'critical',
  user_connection_cap: 'warning',
  pending_auth_shed: 'notice',
  // accounts
  login_failed: 'notice',
  login_locked: 'warning',
  register_refused: 'notice',
  refresh_reuse: 'critical',
  disabled_refused: 'warning',
  csp_violation: 'warning',
  csp_report_refused: 'notice',
  // operations
  metrics_refused: 'notice',
  // session (contract section 3)
  binary_frame: 'notice',
  frame_too_big: 'warning',
  slow_consumer: 'warning',
  heartbeat_timeout: 'info',
  ping_flood: 'warning',
  // frames (contract section 4)
  malformed_frame: 'notice',
  malformed_limit: 'warning',
  invalid_payload: 'notice',
  unknown_type: 'notice',
  rate_limited: 'notice',
  spam_detected: 'warning',
  user_muted: 'warning',
  replay_detected: 'warning',
  forbidden_action: 'notice',
  content_sanitized: 'info',
  xss_attempt: 'warning',
  // abuse
  abuse_threshold: 'critical',
  ban_added: 'warning',
  ban_removed: 'notice',
  // administration
  admin_action: 'notice',
  // server API (docs/protocol.md "Server API"): a refused key, and successful calls (aggregated)
  api_key_refused: 'warning',
  api_call: 'info',
  webhook_failed: 'error',
  // operations (contract section 5)
  cluster_degraded: 'warning',
  cluster_recovered: 'notice',
  message_unreadable: 'error',
} as const satisfies Record<string, Severity>;

export type SecurityEventType = keyof typeof SECURITY_EVENTS;

const ORDER: Record<Severity, number> = { info: 0, notice: 1, warning: 2, error: 3, critical: 4 };

export function isAlertWorthy(severity: Severity): boolean {
  return ORDER[severity] >= ORDER.warning;
}
