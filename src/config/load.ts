/**
 * Configuration sources, lowest to highest precedence: JSON file (`--config` or `BULWARK_CONFIG`),
 * environment variables (contract section 5), command-line flags. The merged object is validated
 * by the closed schema; any problem stops start-up with a message naming the key.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CLIENT_FRAME_TYPES } from '../protocol/frames.js';
import { ConfigSchema, DEFAULT_RATE_LIMITS, type Config } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Tree = { [key: string]: Json };

/** Environment variable -> config path. Values are strings, coerced where the key is numeric. */
const ENV_KEYS: ReadonlyArray<[string, string, 'string' | 'number' | 'list']> = [
  ['BULWARK_HOST', 'host', 'string'],
  ['BULWARK_PORT', 'port', 'number'],
  ['BULWARK_DATA_DIR', 'dataDir', 'string'],
  ['BULWARK_JWT_SECRET', 'auth.secret', 'string'],
  ['BULWARK_JWT_PUBLIC_KEY', 'auth.publicKey', 'string'],
  ['BULWARK_JWKS_URL', 'auth.jwksUrl', 'string'],
  ['BULWARK_JWT_ISSUER', 'auth.issuer', 'string'],
  ['BULWARK_JWT_AUDIENCE', 'auth.audience', 'string'],
  ['BULWARK_ALLOWED_ORIGINS', 'origins.allowed', 'list'],
  ['BULWARK_REDIS_URL', 'redisUrl', 'string'],
  ['BULWARK_DATABASE_URL', 'databaseUrl', 'string'],
  ['BULWARK_TLS_CERT', 'tls.cert', 'string'],
  ['BULWARK_TLS_KEY', 'tls.key', 'string'],
  ['BULWARK_LOG_LEVEL', 'logLevel', 'string'],
];

/** Short flag names for the keys operators type most. */
const FLAG_ALIASES: Readonly<Record<string, string>> = {
  host: 'host',
  port: 'port',
  'data-dir': 'dataDir',
  'log-level': 'logLevel',
  'redis-url': 'redisUrl',
  'database-url': 'databaseUrl',
};

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

function setPath(tree: Tree, path: string, value: Json): void {
  const parts = path.split('.');
  let node: Tree = tree;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (FORBIDDEN_SEGMENTS.has(part) || part === '') throw new ConfigError(`config: invalid key "${path}"`);
    // rateLimits names contain dots ("chat.send"): everything after rateLimits.<name> is the rule field.
    if (parts[i - 1] === 'rateLimits' || (i === 1 && parts[0] === 'rateLimits')) {
      const rest = parts.slice(i);
      const last = rest[rest.length - 1];
      const field = rest.length > 1 && (last === 'points' || last === 'durationMs') ? rest.pop()! : undefined;
      const name = rest.join('.');
      if (field === undefined) {
        node[name] = value;
      } else {
        const rule = (node[name] ??= {}) as Tree;
        rule[field] = value;
      }
      return;
    }
    if (i === parts.length - 1) {
      node[part] = value;
    } else {
      const next = node[part];
      if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
      node = node[part] as Tree;
    }
  }
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    if (value && typeof value === 'object' && !Array.isArray(value) && prev && typeof prev === 'object' && !Array.isArray(prev)) {
      out[key] = deepMerge(prev, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function parseFlagValue(raw: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch {
    return raw;
  }
}

export interface ParsedFlags {
  configPath?: string;
  values: Tree;
}

/** Parses `--key value`, `--key=value`, `--a.b.c value` and the aliases above. */
export function parseConfigFlags(args: readonly string[]): ParsedFlags {
  const values: Tree = {};
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`config: unexpected argument "${arg}"`);
    let key = arg.slice(2);
    let raw: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      raw = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else {
      raw = args[++i];
      if (raw === undefined) throw new ConfigError(`config: flag --${key} needs a value`);
    }
    if (key === 'config') {
      configPath = raw;
      continue;
    }
    const path = FLAG_ALIASES[key] ?? key;
    setPath(values, path, path === 'host' || path === 'dataDir' ? raw : parseFlagValue(raw));
  }
  return configPath === undefined ? { values } : { configPath, values };
}

function fromEnv(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  for (const [name, path, kind] of ENV_KEYS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (kind === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new ConfigError(`config: ${path} (from ${name}) must be a number`);
      setPath(tree, path, n);
    } else if (kind === 'list') {
      setPath(
        tree,
        path,
        raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    } else {
      setPath(tree, path, raw);
    }
  }
  return tree;
}

function fromFile(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`config: ${path} is not valid JSON`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config: ${path} must hold a JSON object`);
  return parsed as Tree;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const base = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `config: unknown key "${base ? `${base}.${k}` : k}"`).join('\n');
  }
  return `config: ${base || '(root)'}: ${issue.message}`;
}

const HMAC = /^HS/;

/** Cross-field rules a schema cannot express: contradictory options are rejected by name. */
function checkCoherence(config: Config): void {
  const known = new Set<string>(['handshake', 'login', 'cspReport', 'default', ...CLIENT_FRAME_TYPES]);
  for (const name of Object.keys(config.rateLimits)) {
    if (!known.has(name)) throw new ConfigError(`config: unknown key "rateLimits.${name}" (expected handshake, login, cspReport, default or a frame type)`);
  }
  const algs = config.auth.algorithms;
  const hmac = algs.filter((a) => HMAC.test(a));
  if (hmac.length > 0 && hmac.length < algs.length) {
    // Mixing HMAC and public-key algorithms is how HS/RS key confusion happens.
    throw new ConfigError('config: auth.algorithms must not mix HMAC (HS*) with public-key algorithms');
  }
  if (hmac.length === 0 && !config.auth.publicKey && !config.auth.jwksUrl) {
    throw new ConfigError('config: auth.publicKey or auth.jwksUrl is required for public-key auth.algorithms');
  }
  if (hmac.length > 0 && (config.auth.publicKey || config.auth.jwksUrl)) {
    throw new ConfigError('config: auth.publicKey/auth.jwksUrl need public-key auth.algorithms (e.g. ["RS256"])');
  }
  if (Boolean(config.tls.cert) !== Boolean(config.tls.key)) {
    throw new ConfigError('config: tls.cert and tls.key must be given together');
  }
}

export interface LoadOptions {
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Highest-precedence values, for embedding and tests. */
  overrides?: Record<string, unknown>;
}

/** Builds the validated configuration; throws ConfigError naming the offending key. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const flags = parseConfigFlags(options.args ?? []);
  const filePath = flags.configPath ?? env.BULWARK_CONFIG;
  let tree: Tree = filePath ? fromFile(filePath) : {};
  tree = deepMerge(tree, fromEnv(env));
  tree = deepMerge(tree, flags.values);
  if (options.overrides) tree = deepMerge(tree, options.overrides as Tree);
  const result = ConfigSchema.safeParse(tree);
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue).join('\n'));
  const config = result.data;
  checkCoherence(config);
  config.rateLimits = { ...DEFAULT_RATE_LIMITS, ...config.rateLimits };
  return config;
}
