/**
 * The one closed configuration schema (contract section 5). Unknown keys are rejected; every
 * limit has a safe default here and nowhere else. Types are inferred from the schema.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().min(0);

export const RateLimitRule = z.strictObject({
  /** How many actions are allowed per window. */
  points: positiveInt,
  /** Window length in milliseconds. */
  durationMs: positiveInt,
});
export type RateLimitRule = z.infer<typeof RateLimitRule>;

/**
 * Rate limits a real chat would choose: a person types at most a couple of messages a second
 * in a burst, reconnects a handful of times a minute, and never needs a thousand room lists.
 */
export const DEFAULT_RATE_LIMITS: Record<string, RateLimitRule> = {
  handshake: { points: 20, durationMs: 10_000 },
  login: { points: 10, durationMs: 60_000 },
  'chat.send': { points: 30, durationMs: 10_000 },
  'chat.edit': { points: 30, durationMs: 10_000 },
  /** Counted before the typing window (`presence.typingIntervalMs`): a client that sends one per keypress stays within it. */
  'chat.typing': { points: 60, durationMs: 10_000 },
  'room.create': { points: 10, durationMs: 60_000 },
  'admin.broadcast': { points: 10, durationMs: 60_000 },
  /** `POST /api/csp-report` per client IP: a page reports a handful of violations, not a stream. */
  cspReport: { points: 20, durationMs: 60_000 },
  /** Server API calls per key (`/api/v1`, docs/protocol.md "Server API"); refused keys spend 10× this per client IP. */
  api: { points: 500, durationMs: 10_000 },
  default: { points: 60, durationMs: 10_000 },
};

/**
 * The default bound on idempotency keys, per second of `replay.windowMs`: a node acknowledging
 * this many sends a second keeps every key for the whole window, in about 300 bytes each
 * (~29 MB for the default 10 minutes). Busier nodes forget their oldest keys early.
 */
export const REPLAY_KEYS_PER_SECOND = 160;

/** `replay.maxKeys`, or the default sized from the window. */
export function replayMaxKeys(replay: { windowMs: number; maxKeys?: number | undefined }): number {
  return replay.maxKeys ?? Math.max(1000, Math.ceil(replay.windowMs / 1000) * REPLAY_KEYS_PER_SECOND);
}

export const LimitsSchema = z.strictObject({
  /** Largest accepted frame after decompression; chat frames need far less (close 1009 over it). @default 16384 */
  maxPayloadBytes: positiveInt.max(16 * 1024 * 1024).default(16_384),
  /**
   * Fragments one WebSocket message may arrive in before the connection is closed 1008. Empty
   * fragments cost no payload bytes, so only this count bounds the work a flood of them makes the
   * server do. Browsers never fragment; other clients fragment large messages into a few parts. @default 128
   */
  maxFragments: positiveInt.max(16_384).default(128),
  /**
   * Pings a client may have sent whose pongs are not written yet; one more closes the connection
   * 1008 (`ping_flood`). A burst of pings in one read, or pings from a client that does not read,
   * cannot make the server queue pongs without bound. @default 60
   */
  maxPendingPongs: positiveInt.max(1024).default(60),
  /** Open connections per node. @default 10000 */
  maxConnections: positiveInt.default(10_000),
  /** Open connections from one client IP. @default 50 */
  maxConnectionsPerIp: positiveInt.default(50),
  /** Live connections for one user (`sub`) across the cluster. @default 10 */
  maxConnectionsPerUser: positiveInt.default(10),
  /** Message text length after trimming. @default 4000 */
  maxMessageChars: positiveInt.max(65_536).default(4000),
  /** Outbound buffer before a reader is a slow consumer (4409). @default 1048576 */
  maxBufferedBytes: positiveInt.default(1024 * 1024),
  /** Malformed frames tolerated before close 4400. @default 5 */
  maxMalformedFrames: positiveInt.default(5),
  /** Total size of the handshake request headers. @default 8192 */
  maxHeaderBytes: positiveInt.max(65_536).default(8192),
  /** Number of handshake request headers. @default 64 */
  maxHeaderCount: positiveInt.max(1000).default(64),
  /** Rooms one connection may have joined. @default 200 */
  maxRoomsPerConnection: positiveInt.default(200),
  /** Rooms one user may own; bounds what one user can add to everyone's `room.list` (admins exempt). @default 50 */
  maxRoomsPerUser: positiveInt.default(50),
  /**
   * Connections that have not authenticated yet (handshakes in flight included), per node: a
   * separate, smaller budget, so sockets that never send `auth` cannot take the places of users
   * (contract section 3 "Under attack"). The effective value is at most `maxConnections`.
   * @default 2000
   */
  maxPendingAuth: positiveInt.default(2000),
  /**
   * Unauthenticated connections from one client IP; over it a handshake is refused 429. A person
   * needs one per open tab for the length of one round trip. @default 10
   */
  maxPendingAuthPerIp: positiveInt.default(10),
  /**
   * Fraction of `maxConnections` at which the node is under pressure: the auth timeout drops to
   * `auth.pressureTimeoutMs` and overdue unauthenticated connections are closed 4408. @default 0.9
   */
  shedAtRatio: z.number().gt(0).max(1).default(0.9),
  /**
   * Time from the upgrade request to `101 Switching Protocols` (the handshake checks, a JWKS
   * fetch included); past it the handshake is answered 503 and its slot given back. @default 10000
   */
  upgradeTimeoutMs: positiveInt.max(120_000).default(10_000),
  /** Body of one `POST /api/csp-report`; larger is refused 413 before it is read. @default 4096 */
  maxCspReportBytes: positiveInt.min(256).max(65_536).default(4096),
});

const JwsAlgorithm = z.enum(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);

/**
 * One more token issuer besides the one the single-issuer keys describe (`auth.secret` /
 * `publicKey` / `jwksUrl`, `auth.issuer`, `auth.audience`). A token is routed by its `iss` and
 * verified only with the keys of that issuer.
 */
export const IssuerSchema = z.strictObject({
  /** The `iss` this entry verifies (exact match). */
  issuer: z.string().min(1).max(512),
  /** Required `aud`, when set. */
  audience: z.string().min(1).optional(),
  /** Shared HMAC secret (at least 32 characters); exactly one of secret, publicKey, jwksUrl. */
  secret: z.string().min(32, 'must be at least 32 characters').optional(),
  /** PEM public key (SPKI), inline or a file path. */
  publicKey: z.string().optional(),
  /** JWKS URL; the keys are cached for this issuer alone. */
  jwksUrl: z.url().optional(),
  /** Accepted algorithms. @default ["HS256"] with a secret, ["RS256"] otherwise */
  algorithms: z.array(JwsAlgorithm).min(1).optional(),
  /**
   * Prefix of this issuer's user ids (`idp:` makes `sub` `alice` the user `idp:alice`): a short
   * lower-case label ending in one `:`. Required unless this is the only issuer without one.
   */
  subjectPrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,31}:$/, 'must be a short lower-case label ending in ":" (e.g. "idp:")')
    .optional(),
});
export type IssuerConfig = z.infer<typeof IssuerSchema>;

export const AuthSchema = z.strictObject({
  /** Time allowed for the `auth` frame after the upgrade. @default 10000 */
  timeoutMs: positiveInt.default(10_000),
  /**
   * The auth timeout while the node is under pressure (`limits.shedAtRatio`): an unauthenticated
   * connection older than this is closed 4408 to make room. Effective value at most `timeoutMs`.
   * @default 2000
   */
  pressureTimeoutMs: positiveInt.default(2000),
  /** Accepted JWS algorithms; `none` can never be listed. @default ["HS256"] */
  algorithms: z.array(JwsAlgorithm).min(1).default(['HS256']),
  /** Tolerance for `exp`, `nbf` and `iat`. @default 30000 */
  clockSkewMs: nonNegativeInt.max(600_000).default(30_000),
  /** How long before `exp` the server sends `auth.refresh_required`. @default 60000 */
  refreshLeadMs: positiveInt.default(60_000),
  /** Accept `?token=` on the upgrade URL. Tokens in URLs end up in logs and history. @default false */
  allowQueryToken: z.boolean().default(false),
  /** Shared HMAC secret (at least 32 bytes). Generated in the data directory when no key is configured. */
  secret: z.string().min(32, 'must be at least 32 characters').optional(),
  /** PEM public key (SPKI) for RS/PS/ES/EdDSA tokens. */
  publicKey: z.string().optional(),
  /** JWKS URL; keys are cached and refetched on an unknown `kid`. */
  jwksUrl: z.url().optional(),
  /** Required `iss`, when set. */
  issuer: z.string().optional(),
  /** Required `aud`, when set. */
  audience: z.string().optional(),
  /** More issuers, each with its own keys; the keys above stay a shorthand for the first one. @default [] */
  issuers: z.array(IssuerSchema).max(16).default([]),
  /**
   * Longest accepted token lifetime: a token whose `exp` lies more than this after its `iat` (or
   * after now, without `iat`) is refused. Also how long a revocation of a user's sessions is kept.
   * @default 86400000
   */
  maxTokenTtlMs: positiveInt.default(24 * 3600_000),
  /** Lifetime of access tokens minted by built-in accounts. @default 900000 */
  accessTokenTtlMs: positiveInt.default(15 * 60_000),
  /** Lifetime of refresh tokens of built-in accounts. @default 2592000000 */
  refreshTokenTtlMs: positiveInt.default(30 * 24 * 3600_000),
});

/** Cluster mode (with `redisUrl`): how a node talks to Redis and what it does when Redis fails (docs/cluster.md). */
export const ClusterSchema = z
  .strictObject({
    /**
     * A Redis command on the hot path (rate limits, idempotency, per-user cap) gives up after this
     * long and the node answers from its own state instead. @default 250
     */
    commandTimeoutMs: positiveInt.max(10_000).default(250),
    /** Connecting to Redis, at start-up and on each reconnect, gives up after this long. @default 2000 */
    connectTimeoutMs: positiveInt.max(60_000).default(2000),
    /** A node's lease in Redis: a node that has not renewed it for this long is dead and its connections stop counting. @default 3000 */
    leaseMs: positiveInt.min(500).max(60_000).default(3000),
    /** How often a node renews its lease (the renewal is also its Redis health probe). @default 1000 */
    heartbeatMs: positiveInt.min(100).max(30_000).default(1000),
    /** How long a `chat.message` that arrived ahead of its `seq` waits for the missing ones before the room is resynced. @default 150 */
    reorderMs: positiveInt.max(5000).default(150),
    /** `chat.message` frames held per room while waiting for a gap; one more and the gap is declared at once. @default 1000 */
    reorderMaxMessages: positiveInt.max(100_000).default(1000),
  })
  .refine((c) => c.heartbeatMs * 2 <= c.leaseMs, { message: 'cluster.heartbeatMs must be at most half of cluster.leaseMs', path: ['heartbeatMs'] });
/** Alert budgets per severity and second (`alerts.perSecond`). */
export const AlertBudgetsSchema = z.strictObject({
  /** @default 5 */
  warning: positiveInt.default(5),
  /** @default 5 */
  error: positiveInt.default(5),
  /** Past it, the first critical alert of each type in a second is still sent. @default 20 */
  critical: positiveInt.default(20),
});

/**
 * One alert webhook (`alerts.webhooks`, contract section 5): alerts of `minSeverity` or higher are
 * POSTed as JSON, signed with HMAC-SHA256 over the timestamp and the body (docs/admin.md "Alert
 * webhooks").
 */
export const WebhookSchema = z.strictObject({
  /** Where alerts are POSTed: an http(s) URL. Redirects are not followed. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }),
  /** Key of the HMAC-SHA256 signature (at least 16 characters); share it with the receiver only. */
  secret: z.string().min(16, 'must be at least 16 characters'),
  /** The least severe alert sent. @default "warning" */
  minSeverity: z.enum(['warning', 'error', 'critical']).default('warning'),
  /** Body shape: Bulwark's own JSON, or a Slack- or Discord-compatible message. @default "json" */
  format: z.enum(['json', 'slack', 'discord']).default('json'),
  /** Time allowed for one delivery attempt. @default 5000 */
  timeoutMs: positiveInt.max(60_000).default(5000),
  /** Attempts per alert before it is given up. @default 5 */
  maxAttempts: positiveInt.max(20).default(5),
  /** First retry delay; it doubles with each attempt (with jitter), at most a minute. @default 1000 */
  backoffMs: positiveInt.max(60_000).default(1000),
  /** Alerts waiting for delivery; past it the oldest non-critical one is dropped (and counted). @default 1000 */
  queueSize: positiveInt.max(100_000).default(1000),
});
export type WebhookConfig = z.infer<typeof WebhookSchema>;

export const ConfigSchema = z.strictObject({
  /** Interface to bind. @default "127.0.0.1" */
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free one. @default 8080 */
  port: nonNegativeInt.max(65_535).default(8080),
  /** Where SQLite, the generated secret and encryption keys live. @default "./data" */
  dataDir: z.string().min(1).default('./data'),
  /** pino level. @default "info" */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Proxy addresses whose `X-Forwarded-For` is believed. @default [] */
  trustProxy: z.array(z.string().min(1)).default([]),
  /** Ping interval; a connection with no pong within it is terminated. @default 30000 */
  heartbeatMs: positiveInt.min(1000).default(30_000),
  limits: LimitsSchema.default(LimitsSchema.parse({})),
  auth: AuthSchema.default(AuthSchema.parse({})),
  origins: z
    .strictObject({
      /** Allowed `Origin` values; empty means the server's own origin(s). @default [] */
      allowed: z.array(z.string().min(1)).default([]),
      /** Accept upgrades without an `Origin` header (non-browser clients). @default false */
      allowMissing: z.boolean().default(false),
    })
    .default({ allowed: [], allowMissing: false }),
  /** Named rules: `handshake`, `login`, `cspReport`, `api`, a frame type, or `default`. Merged over the defaults. */
  rateLimits: z.record(z.string().min(1), RateLimitRule).default({}),
  replay: z
    .strictObject({
      /** How long a `chat.send` id is remembered per user. @default 600000 */
      windowMs: positiveInt.default(600_000),
      /** Largest accepted difference between a frame `ts` and the server clock. @default 120000 */
      maxSkewMs: positiveInt.default(120_000),
      /**
       * Idempotency keys remembered per node (oldest forgotten first). Unset: sized from the window,
       * `REPLAY_KEYS_PER_SECOND` per second of `windowMs` (96,000 for 10 minutes).
       */
      maxKeys: positiveInt.optional(),
    })
    .default({ windowMs: 600_000, maxSkewMs: 120_000 }),
  spam: z
    .strictObject({
      /** Links allowed in one message. @default 3 */
      maxLinks: nonNegativeInt.default(3),
      /** Longest run of one repeated character. @default 20 */
      maxCharRun: positiveInt.default(20),
      /** Case-insensitive phrases that mark a message as spam. */
      keywords: z.array(z.string().min(1).max(100)).max(200).default(['buy now', 'click here', 'free money']),
      /** Extra regular expressions (case-insensitive) that mark a message as spam. @default [] */
      patterns: z.array(z.string().min(1).max(200)).max(50).default([]),
      /** Identical messages a user may send within `repeatWindowMs`. @default 2 */
      maxRepeats: positiveInt.default(2),
      /** @default 30000 */
      repeatWindowMs: positiveInt.default(30_000),
      /** Spam refusals within `repeatWindowMs` before the user is muted. @default 3 */
      muteAfter: positiveInt.default(3),
      /** How long a mute lasts. @default 60000 */
      muteMs: positiveInt.default(60_000),
    })
    .default({
      maxLinks: 3,
      maxCharRun: 20,
      keywords: ['buy now', 'click here', 'free money'],
      patterns: [],
      maxRepeats: 2,
      repeatWindowMs: 30_000,
      muteAfter: 3,
      muteMs: 60_000,
    }),
  abuse: z
    .strictObject({
      /** Score at which a user and IP are disconnected (4429) and banned. @default 100 */
      threshold: positiveInt.default(100),
      /** Scores decay: a score counts violations within this window. @default 600000 */
      windowMs: positiveInt.default(600_000),
      /**
       * Ban loopback and `trustProxy` addresses too. Off by default: behind a local reverse proxy
       * every client shares that address, and banning it would lock everyone out. @default false
       */
      banProxyIps: z.boolean().default(false),
      /** Users and IPs tracked at once (least recent forgotten first). @default 100000 */
      maxTracked: positiveInt.default(100_000),
    })
    .default({ threshold: 100, windowMs: 600_000, banProxyIps: false, maxTracked: 100_000 }),
  accounts: z
    .strictObject({
      /**
       * Who may create a built-in account through `POST /api/auth/register`: anyone (`open`), only
       * holders of an invitation code (`invite`), or nobody (`closed`; operators still create
       * accounts with `bulwark users create`). @default "invite"
       */
      registration: z.enum(['open', 'invite', 'closed']).default('invite'),
      /** How long an invitation code stays valid unless its creator says otherwise. @default 604800000 */
      inviteTtlMs: positiveInt.default(7 * 24 * 3600_000),
    })
    .default({ registration: 'invite', inviteTtlMs: 7 * 24 * 3600_000 }),
  audit: z
    .strictObject({
      /** Days stored security events are kept. @default 30 */
      retentionDays: positiveInt.max(36_500).default(30),
      /** Most stored security-event rows; the oldest are deleted first. @default 100000 */
      maxRows: positiveInt.min(1000).default(100_000),
      /**
       * Sources (type, IP, user) aggregated separately per minute on a node; past it, events of the
       * minute aggregate per type. Bounds the rows and log lines a flood can create. @default 1000
       */
      maxSources: positiveInt.default(1000),
      /** How often the pruning job runs (it also runs early when rows pile up). @default 60000 */
      pruneIntervalMs: positiveInt.min(1000).default(60_000),
    })
    .default({ retentionDays: 30, maxRows: 100_000, maxSources: 1000, pruneIntervalMs: 60_000 }),
  alerts: z
    .strictObject({
      /**
       * Live `security.alert` frames per second to admins, per severity; the rest are counted per
       * type and summarized. A number sets the warning budget (the shape of earlier versions).
       * @default {"warning":5,"error":5,"critical":20}
       */
      perSecond: z.union([positiveInt.transform((warning) => AlertBudgetsSchema.parse({ warning })), AlertBudgetsSchema]).default({ warning: 5, error: 5, critical: 20 }),
      /** Webhooks that receive the alerts (signed JSON POSTs). @default [] */
      webhooks: z.array(WebhookSchema).max(8).default([]),
    })
    .default({ perSecond: { warning: 5, error: 5, critical: 20 }, webhooks: [] }),
  security: z
    .strictObject({
      /**
       * Message text carrying active content (script, event handler, `javascript:` URL…), which
       * always records `xss_attempt`: `sanitize` delivers it escaped into visible text, `reject`
       * refuses the frame `INVALID_PAYLOAD`. @default "sanitize"
       */
      xssAction: z.enum(['sanitize', 'reject']).default('sanitize'),
    })
    .default({ xssAction: 'sanitize' }),
  encryption: z
    .strictObject({
      /** Encrypt message text at rest with AES-256-GCM. @default true */
      enabled: z.boolean().default(true),
    })
    .default({ enabled: true }),
  tls: z
    .strictObject({
      /** Path to a PEM certificate chain. */
      cert: z.string().optional(),
      /** Path to a PEM private key. */
      key: z.string().optional(),
    })
    .default({}),
  compression: z
    .strictObject({
      /** Negotiate permessage-deflate; inflated frames stay under `maxPayloadBytes`. @default false */
      enabled: z.boolean().default(false),
    })
    .default({ enabled: false }),
  socketio: z
    .strictObject({
      /** Serve the Socket.IO transport at `/socket.io/`. @default true */
      enabled: z.boolean().default(true),
      /** Allow HTTP long-polling (off: WebSocket transport only). Its buffers follow `limits`. @default false */
      polling: z.boolean().default(false),
    })
    .default({ enabled: true, polling: false }),
  metrics: z
    .strictObject({
      /**
       * Bearer token that lets any peer scrape `/metrics` (`Authorization: Bearer <token>`). Without
       * it only loopback and `trustProxy` peers may. At least 32 characters.
       */
      token: z.string().min(32, 'must be at least 32 characters').optional(),
    })
    .default({}),
  /** Room presence and typing signals (docs/protocol.md "`presence`", "`chat.typing`"). */
  presence: z
    .strictObject({
      /** How long a user whose last connection left a room still counts as present: a reconnect within it announces nothing. @default 2000 */
      debounceMs: positiveInt.max(60_000).default(2000),
      /** At most one `chat.typing` per user and room is forwarded within this window; the others are dropped. @default 2000 */
      typingIntervalMs: positiveInt.min(100).max(60_000).default(2000),
    })
    .default({ debounceMs: 2000, typingIntervalMs: 2000 }),
  /** Redis URL for the cluster bus and shared limits. */
  redisUrl: z.string().optional(),
  cluster: ClusterSchema.default(ClusterSchema.parse({})),
  /** PostgreSQL URL; storage is SQLite under `dataDir` when unset. */
  databaseUrl: z.string().optional(),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
