/** The self-audit's vocabulary (docs/protocol.md, "Self-audit"). */

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable id, e.g. `origin-foreign`. */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was sent and what came back. */
  evidence: string;
  /** What to change; empty on a pass. */
  fix: string;
}

export interface AuditTarget {
  /** `http(s)://host:port`, no path. */
  base: URL;
  /** The WebSocket endpoint, `ws(s)://host:port/ws`. */
  ws: URL;
  /** The origin a legitimate page sends: `--origin`, else the target's own. */
  origin: string;
  /** The host counts as reachable from the internet (a non-loopback name, or `--assume-public`). */
  public: boolean;
}

export interface AuditReport {
  target: string;
  startedAt: string;
  checks: CheckResult[];
  /** Requests and handshakes sent, all to the target host. */
  requests: number;
  summary: Record<CheckStatus, number>;
}
