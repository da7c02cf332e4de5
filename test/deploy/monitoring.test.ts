/**
 * The monitoring material in `deploy/` refers only to metrics a Bulwark node actually exports: a
 * renamed metric would otherwise leave a dashboard blank and an alert silent without anyone
 * noticing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer, type TestServer } from '../helpers/server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(root + path, 'utf8');

/** Metric names used in PromQL expressions, histogram suffixes folded into the metric. */
function metricNames(exprs: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const expr of exprs) {
    for (const m of expr.matchAll(/\b((?:bulwark|nodejs|process)_[a-z0-9_]+)\b/g)) names.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
  }
  return names;
}

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

describe('deploy/ monitoring', () => {
  let server: TestServer;
  let exported: Set<string>;
  before(async () => {
    server = await startServer();
    const text = await (await fetch(`${server.url}/metrics`)).text();
    exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  });
  after(() => server.stop());

  it('the Grafana dashboard is valid JSON whose every panel queries exported metrics', () => {
    const dashboard = JSON.parse(read('deploy/grafana/bulwark-dashboard.json')) as { panels: Panel[]; uid: string };
    assert.ok(dashboard.panels.length >= 6);
    for (const panel of dashboard.panels) {
      const used = metricNames(panel.targets.map((t) => t.expr));
      assert.ok(used.size > 0, `${panel.title} queries nothing`);
      for (const name of used) assert.ok(exported.has(name), `${panel.title}: ${name} is not exported`);
    }
  });

  it('every Prometheus alert rule has an expression over exported metrics', () => {
    const rules = read('deploy/prometheus/alerts.yml');
    const alerts = [...rules.matchAll(/- alert: (\S+)\n\s+expr: (.+)/g)].map((m) => ({ name: m[1]!, expr: m[2]! }));
    assert.ok(alerts.length >= 6, `found ${alerts.length} alerts`);
    for (const { name, expr } of alerts) {
      for (const metric of metricNames([expr])) assert.ok(exported.has(metric), `${name}: ${metric} is not exported`);
    }
    assert.ok(
      alerts.some((a) => a.expr.includes('up{')),
      'an alert for a node that stopped answering',
    );
  });
});
