/**
 * `POST /api/csp-report`: where browsers post Content-Security-Policy violations (the policy's
 * `report-uri`). An anonymous write path, so everything about it is bounded (contract section 3
 * "Under attack"): a banned IP is refused `403`; each IP gets `rateLimits.cspReport` reports
 * (`429` past it); a report must come from the page's own origin (a browser sends the page's
 * `Origin`, or none) else `403`; a body over `limits.maxCspReportBytes` is refused `413` before it
 * is read. Refusals record `csp_report_refused` and accepted reports `csp_violation`; both carry
 * abuse weight, so a flooder is banned, and both are aggregated by the audit like every event.
 * The checks run in Fastify's `onRequest` hook, before the body is read.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimiter } from '../guards/rate-limits.js';
import { normalizeOrigin } from '../guards/handshake/origin.js';
import type { SecurityAudit } from '../security/audit.js';

export const CSP_REPORT_PATH = '/api/csp-report';
const CONTENT_TYPES = ['application/csp-report', 'application/reports+json'];

export interface CspReportDeps {
  audit: SecurityAudit;
  /** `rateLimits.cspReport`, keyed by client IP. */
  limiter: RateLimiter;
  /** `limits.maxCspReportBytes`. */
  maxBytes: number;
  allowedOrigins(): ReadonlySet<string>;
  clientIp(req: FastifyRequest): string;
  /** When the IP is banned: until when (ms). */
  bannedUntil(ip: string): number | undefined;
}

function retryAfter(reply: FastifyReply, ms: number): void {
  reply.header('Retry-After', String(Math.max(1, Math.ceil(ms / 1000))));
}

function field(report: Record<string, unknown>, ...names: string[]): string {
  for (const name of names) if (typeof report[name] === 'string') return report[name];
  return '';
}

/** The violation inside either format: `{"csp-report": {...}}` or a Reporting API array. */
function violation(body: unknown): Record<string, unknown> {
  const first = Array.isArray(body) ? (body[0] as unknown) : body;
  if (!first || typeof first !== 'object') return {};
  const outer = first as Record<string, unknown>;
  const inner = outer['csp-report'] ?? outer['body'] ?? outer;
  return inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : {};
}

export function registerCspReports(app: FastifyInstance, deps: CspReportDeps): void {
  for (const type of CONTENT_TYPES) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: deps.maxBytes }, (_req, text, done) => {
      try {
        done(null, JSON.parse(String(text)) as unknown);
      } catch {
        done(null, {});
      }
    });
  }

  const refuse = (req: FastifyRequest, reply: FastifyReply, status: number, reason: string, detail: Record<string, unknown> = {}): FastifyReply => {
    deps.audit.emit('csp_report_refused', { ip: deps.clientIp(req), detail: { reason, status, ...detail } });
    return reply.code(status).send({ error: status === 413 ? 'BAD_REQUEST' : status === 429 ? 'RATE_LIMITED' : 'FORBIDDEN', message: 'Report refused.' });
  };

  app.post(CSP_REPORT_PATH, {
    bodyLimit: deps.maxBytes,
    onRequest: async function cspReportGate(req, reply) {
      const ip = deps.clientIp(req);
      const until = deps.bannedUntil(ip);
      if (until !== undefined) {
        retryAfter(reply, until - Date.now());
        deps.audit.emit('banned_refused', { ip, detail: { kind: 'ip', path: CSP_REPORT_PATH } });
        return reply.code(403).send({ error: 'FORBIDDEN', message: 'Banned.', retryAfterMs: Math.max(0, until - Date.now()) });
      }
      const rate = await deps.limiter.consume(ip);
      if (!rate.ok) {
        retryAfter(reply, rate.retryAfterMs);
        return refuse(req, reply, 429, 'rate_limited');
      }
      const origin = req.headers.origin;
      if (origin !== undefined) {
        const canonical = normalizeOrigin(origin);
        if (canonical === undefined || !deps.allowedOrigins().has(canonical)) return refuse(req, reply, 403, 'cross_origin', { origin });
      }
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > deps.maxBytes) return refuse(req, reply, 413, 'too_large', { bytes: declared });
      return undefined;
    },
    // A chunked body over the limit is cut off while it is read.
    errorHandler: function cspReportError(error: { statusCode?: number }, req, reply) {
      if (error.statusCode === 413) return refuse(req, reply, 413, 'too_large');
      return reply.code(400).send({ error: 'BAD_REQUEST', message: 'The request is not valid.' });
    },
    handler: async function cspReport(req, reply) {
      const report = violation(req.body);
      deps.audit.emit('csp_violation', {
        ip: deps.clientIp(req),
        detail: {
          directive: field(report, 'violated-directive', 'effective-directive', 'effectiveDirective'),
          blocked: field(report, 'blocked-uri', 'blockedURL'),
        },
      });
      return reply.code(204).send();
    },
  });
}
