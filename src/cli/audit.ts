/**
 * `bulwark audit <url> [--json] [--origin O] [--assume-public] [--ca FILE]`: checks a deployment
 * from the outside (docs/protocol.md, "Self-audit"); exit 1 when a check fails.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import type { Command } from './command.js';

export const audit: Command = {
  summary: 'check a running deployment from the outside (TLS, origins, limits, headers, exposure)',
  usage: 'bulwark audit <url> [--json] [--origin ORIGIN] [--assume-public] [--ca FILE]',
  description: [
    'Sends at most a few hundred requests, all to the given host, and stops each limit probe at the first refusal. Each check prints pass, warn or fail with its evidence and the fix; exit 1 when any check fails.',
    'Run it from another machine: on a loopback URL it assumes it runs on the server itself (plain HTTP and a /metrics answer are then warnings); --assume-public judges a loopback target as if it were reachable from the internet.',
    'Its refusals add about 40 to the auditing address’s abuse score (threshold 100, forgotten after 10 minutes): loopback is never banned, but audit a remote deployment at most twice in ten minutes from one address.',
  ].join('\n\n'),
  options: {
    json: { type: 'boolean', help: 'the report as one JSON object' },
    origin: { type: 'string', value: 'ORIGIN', help: "the origin your web app is served from (default: the target's own)" },
    'assume-public': { type: 'boolean', help: 'judge a loopback target as if the internet could reach it' },
    ca: { type: 'string', value: 'FILE', help: 'also trust this CA certificate (PEM), e.g. a development certificate' },
  },
  config: false,
  async run(args) {
    const [url, ...extra] = args.positionals;
    if (!url || extra.length > 0) throw new UsageError('usage: bulwark audit <url> [--json] [--origin ORIGIN] [--assume-public] [--ca FILE]');
    const { runAudit } = await import('../self-audit/run.js');
    const { formatReport } = await import('../self-audit/report.js');
    const report = await runAudit({
      url,
      ...(args.options.origin ? { origin: args.options.origin } : {}),
      assumePublic: args.options['assume-public'] === 'true',
      ...(args.options.ca ? { ca: readFileSync(args.options.ca) } : {}),
    });
    console.log(args.options.json === 'true' ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.summary.fail > 0 ? 1 : 0;
  },
};
