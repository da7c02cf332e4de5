/** The audit report for a terminal: one line per check, then the fix under each warn and fail. */
import type { AuditReport } from './types.js';

const LABEL = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' } as const;

export function formatReport(report: AuditReport): string {
  const lines = [`bulwark audit ${report.target} (${report.startedAt})`, ''];
  const width = Math.max(...report.checks.map((c) => c.id.length));
  for (const check of report.checks) {
    lines.push(`${LABEL[check.status]}  ${check.id.padEnd(width)}  ${check.evidence}`);
    if (check.fix) lines.push(`${' '.repeat(6 + width + 2)}fix: ${check.fix}`);
  }
  const { pass, warn, fail, skip } = report.summary;
  lines.push('', `${pass} pass, ${warn} warn, ${fail} fail${skip ? `, ${skip} skipped` : ''} — ${report.requests} requests to ${report.target}`);
  return lines.join('\n');
}
