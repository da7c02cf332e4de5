/**
 * `bulwark check-config [configuration flags]`: validates the configuration exactly as `serve`
 * would load it and reports every problem at once (exit 1), or prints the effective
 * configuration — defaults filled in, secrets redacted — and any exposure warning (exit 0).
 */
import { accessSync, constants } from 'node:fs';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { exposureWarning } from '../config/exposure.js';
import type { Command } from './command.js';
import { resolveContext } from './context.js';

/** Key names whose values are secrets wherever they appear (`auth.secret`, `metrics.token`, a webhook's `secret`, …). */
const SECRET_NAME = /^(secret|token|password)$|secret|password/i;

/** Query parameters that carry credentials in service URLs (`?password=`, `?token=`, `?sig=`…). */
const SECRET_PARAM = /pass|secret|token|key|sig|auth/i;

/**
 * A URL's credentials become `***`: `redis://:hunter2@host` → `redis://:***@host`, and the value
 * of a query parameter such as `password` or `token`.
 */
function redactUrl(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  try {
    const url = new URL(value);
    let changed = false;
    if (url.password) {
      url.password = '***';
      changed = true;
    }
    for (const name of [...url.searchParams.keys()]) {
      if (!SECRET_PARAM.test(name)) continue;
      url.searchParams.set(name, '***');
      changed = true;
    }
    return changed ? url.toString() : value;
  } catch {
    return value;
  }
}

/**
 * An alert webhook's URL is a credential as a whole: Slack and Discord put their token in the
 * path, others in the user information or the query. Only its origin is shown, as in the
 * `webhook_failed` events (src/security/webhooks.ts).
 */
function redactWebhookUrl(value: string): string {
  try {
    const url = new URL(value);
    const hidden = url.username || url.password || url.search || url.hash || url.pathname !== '/';
    return hidden ? `${url.origin}/[redacted]` : url.origin;
  } catch {
    return '[redacted]';
  }
}

const WEBHOOK_URL = /^alerts\.webhooks\.\d+\.url$/;

/** `path` is where `value` sits in the configuration (`alerts.webhooks.0.url`). */
export function redact(value: unknown, path = ''): unknown {
  if (value === undefined || value === null) return value;
  const name = path.slice(path.lastIndexOf('.') + 1);
  if (typeof value === 'string') {
    if (SECRET_NAME.test(name)) return '[redacted]';
    return WEBHOOK_URL.test(path) ? redactWebhookUrl(value) : redactUrl(value);
  }
  const at = (key: string | number): string => (path ? `${path}.${key}` : String(key));
  if (Array.isArray(value)) return value.map((v, i) => redact(v, at(i)));
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, at(k))]));
  return value;
}

/** Problems only the file system can reveal: files named by the configuration that cannot be read. */
function fileProblems(config: Config): string[] {
  const problems: string[] = [];
  const readable = (key: string, path: string | undefined): void => {
    if (!path) return;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      problems.push(`config: ${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  readable('tls.cert', config.tls.cert);
  readable('tls.key', config.tls.key);
  if (config.auth.publicKey && !config.auth.publicKey.includes('-----BEGIN')) readable('auth.publicKey', config.auth.publicKey);
  return problems;
}

export const checkConfig: Command = {
  summary: 'validate the configuration and print the effective one (secrets redacted)',
  usage: 'bulwark check-config [configuration flags]',
  description: 'Reads the same sources as serve (file, environment, flags), reports every problem at once and exits 1, or prints the effective configuration as JSON and exits 0.',
  options: {},
  config: true,
  async run(args) {
    let config: Config;
    try {
      config = resolveContext(args).config;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const problem of err.problems) console.error(problem);
      console.error(`bulwark: ${err.problems.length} configuration problem(s)`);
      return 1;
    }
    const problems = fileProblems(config);
    if (problems.length > 0) {
      for (const problem of problems) console.error(problem);
      console.error(`bulwark: ${problems.length} configuration problem(s)`);
      return 1;
    }
    console.log(JSON.stringify(redact(config), null, 2));
    const warning = exposureWarning(config);
    if (warning) console.error(`bulwark: warning: ${warning}`);
    console.error('bulwark: configuration OK');
    return 0;
  },
};
