/**
 * Configuration sources, lowest to highest precedence: JSON file (`--config` or `BULWARK_CONFIG`),
 * environment variables (contract section 5), command-line flags. The merged object is validated
 * by the closed schema; any problem stops start-up with a message naming the key.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CLIENT_FRAME_TYPES } from '../protocol/frames.js';
import { closest } from './did-you-mean.js';
import { configKeys } from './keys.js';
import { ConfigSchema, DEFAULT_RATE_LIMITS, type Config } from './schema.js';

/** Every problem found, one line each (`check-config` prints them all; start-up stops on any). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.problems = list;
  }
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
  ['BULWARK_METRICS_TOKEN', 'metrics.token', 'string'],
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
  /** Flag names as typed (without `--`), for reporting where a key came from. */
  names: string[];
}

/** The config path a flag names: an alias, or the dotted key itself. */
export function flagPath(name: string): string {
  return FLAG_ALIASES[name] ?? name;
}

function isBooleanKey(path: string): boolean {
  return configKeys().get(path) === 'boolean';
}

/**
 * Parses `--key value`, `--key=value`, `--a.b.c value` and the aliases above. A boolean key may be
 * given without a value (`--origins.allowMissing` means true). Problems are collected, not thrown.
 */
export function parseConfigFlags(args: readonly string[], problems: string[] = []): ParsedFlags {
  const values: Tree = {};
  const names: string[] = [];
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      problems.push(`config: unexpected argument "${arg}"`);
      continue;
    }
    let key = arg.slice(2);
    let raw: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      raw = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else if (isBooleanKey(flagPath(key)) && (i + 1 >= args.length || args[i + 1]!.startsWith('--') || !/^(true|false)$/.test(args[i + 1]!))) {
      raw = 'true';
    } else {
      raw = args[++i];
      if (raw === undefined) {
        problems.push(`config: flag --${key} needs a value`);
        continue;
      }
    }
    if (key === 'config') {
      configPath = raw;
      continue;
    }
    names.push(key);
    const path = flagPath(key);
    try {
      setPath(values, path, path === 'host' || path === 'dataDir' ? raw : parseFlagValue(raw));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const out: ParsedFlags = { values, names };
  if (configPath !== undefined) out.configPath = configPath;
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv, problems: string[]): Tree {
  const tree: Tree = {};
  for (const [name, path, kind] of ENV_KEYS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (kind === 'number') {
      const n = Number(raw);
      if (Number.isFinite(n)) setPath(tree, path, n);
      else problems.push(`config: ${path} (from ${name}) must be a number`);
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

/**
 * The key an operator probably meant: a sibling with a similar name (`limits.maxPayloadByts` →
 * `limits.maxPayloadBytes`), else a key anywhere whose last segment is similar (`maxPayloadBytes`
 * at the top level → `limits.maxPayloadBytes`).
 */
export function suggestKey(path: string): string | undefined {
  const keys = [...configKeys().keys()];
  const dot = path.lastIndexOf('.');
  const parent = dot >= 0 ? path.slice(0, dot) : '';
  const leaf = path.slice(dot + 1);
  const siblings = keys.filter((k) => (parent ? k.startsWith(`${parent}.`) && !k.slice(parent.length + 1).includes('.') : !k.includes('.')));
  const near = closest(path, siblings);
  if (near) return near;
  const byLeaf = new Map(keys.map((k) => [k.slice(k.lastIndexOf('.') + 1), k] as const));
  const leafMatch = closest(leaf, byLeaf.keys());
  return leafMatch ? byLeaf.get(leafMatch) : undefined;
}

function unknownKey(path: string): string {
  const near = suggestKey(path);
  return `config: unknown key "${path}"${near ? ` (did you mean "${near}"?)` : ''}`;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const base = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => unknownKey(base ? `${base}.${k}` : k));
  return [`config: ${base || '(root)'}: ${issue.message}`];
}

const HMAC = /^HS/;

/** Cross-field rules a schema cannot express: contradictory options are rejected by name. */
/** Rate rule names are a closed set too; checked on the raw tree so they are reported with the schema's problems. */
function checkRateLimitNames(tree: Tree, problems: string[]): void {
  const rules = tree.rateLimits;
  if (!rules || typeof rules !== 'object' || Array.isArray(rules)) return;
  const known = new Set<string>(['handshake', 'login', 'cspReport', 'api', 'default', ...CLIENT_FRAME_TYPES]);
  for (const name of Object.keys(rules)) {
    if (known.has(name)) continue;
    const near = closest(name, known);
    problems.push(
      `config: unknown key "rateLimits.${name}" (${near ? `did you mean "rateLimits.${near}"? ` : ''}expected handshake, login, cspReport, api, default or a frame type)`,
    );
  }
}

function checkCoherence(config: Config, problems: string[]): void {
  const algs = config.auth.algorithms;
  const hmac = algs.filter((a) => HMAC.test(a));
  if (hmac.length > 0 && hmac.length < algs.length) {
    // Mixing HMAC and public-key algorithms is how HS/RS key confusion happens.
    problems.push('config: auth.algorithms must not mix HMAC (HS*) with public-key algorithms');
  }
  if (hmac.length === 0 && !config.auth.publicKey && !config.auth.jwksUrl && config.auth.issuers.length === 0) {
    problems.push('config: auth.publicKey or auth.jwksUrl is required for public-key auth.algorithms');
  }
  if (hmac.length > 0 && (config.auth.publicKey || config.auth.jwksUrl)) {
    problems.push('config: auth.publicKey/auth.jwksUrl need public-key auth.algorithms (e.g. ["RS256"])');
  }
  checkIssuers(config.auth, hmac.length > 0 || Boolean(config.auth.publicKey || config.auth.jwksUrl), problems);
  if (config.auth.accessTokenTtlMs > config.auth.maxTokenTtlMs) {
    problems.push('config: auth.accessTokenTtlMs must not exceed auth.maxTokenTtlMs (the server would refuse its own tokens)');
  }
  if (Boolean(config.tls.cert) !== Boolean(config.tls.key)) {
    problems.push('config: tls.cert and tls.key must be given together');
  }
}

/**
 * `auth.issuers`: each entry has exactly one kind of key and algorithms that fit it; issuers are
 * distinct; user ids of two issuers can never be equal (docs/protocol.md "Identities"): at most one
 * issuer, the single-issuer keys' included, keeps its subjects as they are, every other one has a
 * distinct `subjectPrefix`.
 */
function checkIssuers(auth: Config['auth'], primary: boolean, problems: string[]): void {
  const seen = new Set<string>(auth.issuer !== undefined ? [auth.issuer] : []);
  const prefixes = new Set<string>();
  let unprefixed = primary ? 1 : 0;
  auth.issuers.forEach((entry, i) => {
    const at = `auth.issuers.${i}`;
    const keys = [entry.secret, entry.publicKey, entry.jwksUrl].filter((k) => k !== undefined).length;
    if (keys !== 1) {
      problems.push(`config: ${at}: exactly one of secret, publicKey, jwksUrl`);
      return;
    }
    const algs = entry.algorithms ?? [];
    if (entry.secret !== undefined && algs.some((a) => !HMAC.test(a))) problems.push(`config: ${at}.algorithms: a secret takes HMAC (HS*) algorithms only`);
    if (entry.secret === undefined && algs.some((a) => HMAC.test(a))) problems.push(`config: ${at}.algorithms: a public key or JWKS takes public-key algorithms only`);
    if (seen.has(entry.issuer)) problems.push(`config: ${at}.issuer: "${entry.issuer}" is configured twice`);
    seen.add(entry.issuer);
    if (entry.subjectPrefix === undefined) {
      if (++unprefixed > 1) problems.push(`config: ${at}.subjectPrefix is required: two issuers without one could name the same user`);
    } else {
      if (entry.subjectPrefix === 'acct:') problems.push(`config: ${at}.subjectPrefix: "acct:" belongs to the built-in accounts`);
      if (entry.subjectPrefix === 'apikey:') problems.push(`config: ${at}.subjectPrefix: "apikey:" belongs to the server API's keys`);
      if (prefixes.has(entry.subjectPrefix)) problems.push(`config: ${at}.subjectPrefix: "${entry.subjectPrefix}" is used twice`);
      prefixes.add(entry.subjectPrefix);
    }
  });
}

export interface LoadOptions {
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Highest-precedence values, for embedding and tests. */
  overrides?: Record<string, unknown>;
}

/** Where a key's value came from. */
export type ValueSource = { kind: 'flag'; name: string } | { kind: 'env'; name: string } | { kind: 'file'; path: string } | { kind: 'override' } | { kind: 'default' };

export interface LoadedConfig {
  config: Config;
  /** The JSON file read, if any. */
  file: string | undefined;
  /** Which source set `path` (`dataDir`, `limits.maxPayloadBytes`, …): the highest one that did. */
  sourceOf(path: string): ValueSource;
}

function has(tree: Tree, path: string): boolean {
  let node: Json = tree;
  for (const part of path.split('.')) {
    if (!node || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) return false;
    node = node[part]!;
  }
  return true;
}

/** Builds the validated configuration and says where each value came from; throws ConfigError listing every problem. */
export function loadConfigWithSources(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const flags = parseConfigFlags(options.args ?? [], problems);
  const filePath = flags.configPath ?? env.BULWARK_CONFIG;
  let fileTree: Tree = {};
  if (filePath) {
    try {
      fileTree = fromFile(filePath);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const envTree = fromEnv(env, problems);
  let tree = deepMerge(deepMerge(fileTree, envTree), flags.values);
  if (options.overrides) tree = deepMerge(tree, options.overrides as Tree);
  checkRateLimitNames(tree, problems);
  const result = ConfigSchema.safeParse(tree);
  if (!result.success) problems.push(...result.error.issues.flatMap(describeIssue));
  else if (problems.length === 0) checkCoherence(result.data, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const config = result.data!;
  config.rateLimits = { ...DEFAULT_RATE_LIMITS, ...config.rateLimits };
  return {
    config,
    file: filePath,
    sourceOf(path) {
      if (options.overrides && has(options.overrides as Tree, path)) return { kind: 'override' };
      if (has(flags.values, path)) return { kind: 'flag', name: `--${flags.names.find((n) => flagPath(n) === path) ?? path}` };
      const envName = ENV_KEYS.find(([, p]) => p === path)?.[0];
      if (envName && has(envTree, path)) return { kind: 'env', name: envName };
      if (filePath && has(fileTree, path)) return { kind: 'file', path: filePath };
      return { kind: 'default' };
    },
  };
}

/** Builds the validated configuration; throws ConfigError naming every offending key. */
export function loadConfig(options: LoadOptions = {}): Config {
  return loadConfigWithSources(options).config;
}
