/**
 * Assembles one Bulwark node from its configuration: store, bus, hub, security audit, auth,
 * guards, domain, pipeline and transports. `start()` listens; `stop()` is the SIGTERM path:
 * stop accepting, close sockets with 1001, flush storage.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AddressInfo } from 'node:net';
import { hmacSecret, resolveVerifyKey } from './auth/keys.js';
import { Accounts } from './auth/accounts.js';
import { Revocations } from './auth/revocation.js';
import { TokenVerifier } from './auth/jwt.js';
import { SessionAuth } from './auth/session-auth.js';
import type { Bus } from './bus/bus.js';
import { MemoryBus } from './bus/memory-bus.js';
import { createCluster } from './cluster/index.js';
import type { ClusterHealth } from './cluster/health.js';
import { Openings, reasonOf, redactUrl, StartupError } from './lifecycle/startup.js';
import { PresenceHub } from './cluster/presence.js';
import { RoomPresenceTracker, type RoomPresence } from './presence/room-presence.js';
import type { Config } from './config/schema.js';
import { createDispatch } from './domain/dispatch.js';
import { Messages } from './domain/messages.js';
import { Rooms } from './domain/rooms.js';
import type { Session } from './domain/session.js';
import { headersGuard } from './guards/handshake/headers.js';
import { normalizeOrigin, originGuard } from './guards/handshake/origin.js';
import { handshakeRateGuard } from './guards/handshake/rate.js';
import { subprotocolGuard } from './guards/handshake/subprotocol.js';
import { tokenGuard } from './guards/handshake/token.js';
import { FramePipeline } from './pipeline/frame-pipeline.js';
import { RateLimits } from './guards/rate-limits.js';
import { createFrameGuards } from './guards/frame/index.js';
import { createLogger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import { CLOSE } from './protocol/close-codes.js';
import { SecurityAudit } from './security/audit.js';
import { AuditPruner } from './security/audit-pruner.js';
import { SqliteStore } from './store/sqlite-store.js';
import { PostgresStore, type PostgresStoreOptions } from './store/postgres-store.js';
import { AbuseScores } from './security/abuse.js';
import { AdminAlerts } from './security/alerts.js';
import { Webhooks } from './security/webhooks.js';
import { EncryptingCodec, KEYS_FILE, loadKeyRing } from './security/at-rest.js';
import { jwtKeyMaterial, keyMismatches } from './security/key-check.js';
import { unreadableReporter } from './security/unreadable.js';
import type { UnreadableHook } from './store/rows.js';
import type { Store } from './store/store.js';
import { createHttp } from './transport/http.js';
import { registerAuthRoutes } from './transport/api-auth.js';
import { registerAdminRoutes } from './transport/api-admin.js';
import { registerApiRoutes } from './transport/api-v1.js';
import { ApiKeyVerifier } from './api/keys.js';
import { ApiWrites } from './api/publish.js';
import { ConnectionDirectory } from './admin/directory.js';
import { UserAdmin } from './auth/user-admin.js';
import { registerCspReports } from './transport/csp-reports.js';
import { registerStatic } from './transport/static.js';
import { registerBanStatus } from './transport/ban-status.js';
import { clientIp } from './transport/client-ip.js';
import { banCheck, Bans } from './security/bans.js';
import { ipBanGuard, userBanGuard } from './guards/handshake/ban.js';
import { Hub } from './fanout/hub.js';
import { deliverBusToHub } from './fanout/bus-delivery.js';
import { RoomSequencer, type SequencerOptions } from './fanout/sequencer.js';
import { securityHeaderLines } from './transport/security-headers.js';
import { Admission } from './admission/admission.js';
import type { AdmissionCounts } from './admission/slots.js';
import { refuseUnknownPath } from './admission/upgrade.js';
import { WsTransport } from './transport/ws.js';
import { exposureWarning } from './config/exposure.js';
import { SOCKETIO_PATH, SocketIoTransport } from './transport/socketio.js';

export interface BulwarkOptions {
  logger?: Logger;
  store?: Store;
  bus?: Bus;
  /** Prefix of every Redis key and channel of the cluster (tests isolate runs with it). @default 'bulwark:' */
  redisPrefix?: string;
  /**
   * Admission counters (connection slots, pending-auth budget) kept elsewhere, e.g. cluster-wide.
   * @default node-local counts over the configured limits
   */
  admissionCounts?: { connections?: AdmissionCounts; pendingAuth?: AdmissionCounts };
}

export interface Bulwark {
  readonly config: Config;
  readonly store: Store;
  readonly hub: Hub;
  readonly audit: SecurityAudit;
  readonly metrics: Metrics;
  readonly bans: Bans;
  readonly revocations: Revocations;
  /** Who is online in a room, across all nodes (`members(room)`; docs/protocol.md "`presence`"). Callers authorize. */
  readonly presence: RoomPresence;
  /** Cluster mode: live nodes at the last lease renewal, and why the node is degraded (undefined when it is not). */
  clusterState(): { liveNodes: number; degraded: string | undefined } | undefined;
  /** Sizes of every structure keyed by client-controlled values (each has a cap). */
  boundedSizes(): Record<string, number>;
  /** http(s)://host:port once started. */
  url: string;
  start(): Promise<string>;
  stop(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '0.0.0.0', '::']);

/** The server's own origins: what a browser sends when the bundled web app is served from here. */
export function ownOrigins(host: string, port: number, tls: boolean): string[] {
  const scheme = tls ? 'https' : 'http';
  const hosts = LOOPBACK.has(host) ? ['127.0.0.1', 'localhost', '[::1]'] : [host.includes(':') ? `[${host}]` : host];
  return hosts.map((h) => normalizeOrigin(`${scheme}://${h}:${port}`)).filter((o): o is string => o !== undefined);
}

/**
 * Builds a node. Any failure on the way closes what was already opened (store, decrypt thread,
 * Redis connections, timers) and rejects with a `StartupError` naming the component, so
 * `bulwark serve` exits non-zero at once instead of hanging (contract section 5).
 */
export function createBulwark(config: Config, options: BulwarkOptions = {}): Promise<Bulwark> {
  return assembleBulwark(config, options, {});
}

/**
 * Assembly switches for in-repository tools, never part of the public options or the package's
 * exports (`bulwark` exports `createBulwark` only): `bench/rtt.ts` measures what the frame guards
 * cost by running without them.
 */
export interface InternalAssembly {
  /** Run frames without the frame guards (rate, replay, sanitize, spam). */
  withoutFrameGuards?: boolean;
}

/** `createBulwark` with the in-repository assembly switches. */
export async function assembleBulwark(config: Config, options: BulwarkOptions, internal: InternalAssembly): Promise<Bulwark> {
  const log = options.logger ?? createLogger(config.logLevel);
  const openings = new Openings();
  try {
    return await assemble(config, options, internal, log, openings);
  } catch (error) {
    await openings.closeAll((component, err) => log.error({ component, err: reasonOf(err) }, 'closing after a failed start-up failed'));
    throw error;
  }
}

async function openStore(config: Config, hooks: Omit<PostgresStoreOptions, 'url'>): Promise<Store> {
  if (!config.databaseUrl) return new SqliteStore({ path: join(config.dataDir, 'bulwark.db'), ...hooks });
  try {
    return await PostgresStore.open({ url: config.databaseUrl, ...hooks });
  } catch (error) {
    throw new StartupError('database', `database unavailable at ${redactUrl(config.databaseUrl)} (${reasonOf(error)})`, { cause: error });
  }
}

function openCodec(config: Config): EncryptingCodec | undefined {
  if (!config.encryption.enabled) return undefined;
  try {
    return new EncryptingCodec(loadKeyRing(config.dataDir), process.env.BULWARK_ENCRYPTION_KEYS ? undefined : join(config.dataDir, KEYS_FILE));
  } catch (error) {
    throw new StartupError('keys', `encryption keys unusable: ${reasonOf(error)}`, { cause: error });
  }
}

async function assemble(config: Config, options: BulwarkOptions, internal: InternalAssembly, log: Logger, openings: Openings): Promise<Bulwark> {
  const metrics = new Metrics({ defaults: true });
  const codec = openings.add('decrypt thread', openCodec(config), (c) => c?.close());
  // Set once the audit exists: rows read before that (the key check's sample) report nothing.
  // eslint-disable-next-line prefer-const
  let reportUnreadable: UnreadableHook | undefined;
  const storeHooks = {
    codec,
    onUnreadable: (room: string, keyIds: ReadonlyArray<string | null>) => reportUnreadable?.(room, keyIds),
    onBackgroundError: (err: unknown) => log.error({ err }, 'background write failed'),
    onCommit: (ms: number) => metrics.storeLatency.observe({ op: 'batch' }, ms / 1000),
  };
  // With databaseUrl, PostgreSQL (migrated before use, shareable by several nodes); else SQLite under dataDir.
  const store: Store = options.store ?? openings.add('store', await openStore(config, storeHooks), (s) => s.close());
  await verifyKeys(config, store, codec);
  // With redisUrl, the bus, rate limits, per-user connection cap and idempotency keys are cluster-wide.
  // eslint-disable-next-line prefer-const
  let hub: Hub;
  const cluster =
    config.redisUrl && !options.bus
      ? openings.add(
          'redis',
          await createCluster({
            url: config.redisUrl,
            prefix: options.redisPrefix,
            settings: config.cluster,
            maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
            localUserCount: (user) => hub.userCount(user),
            log,
          }),
          async (c) => {
            await c.close();
            await c.bus.close();
          },
        )
      : undefined;
  const bus: Bus = options.bus ?? cluster?.bus ?? new MemoryBus();
  const onDelivered = (type: string, count: number): void => metrics.frameOut(type, count);
  hub = cluster ? new PresenceHub(cluster.presence, onDelivered) : new Hub(onDelivered);
  // Room presence: in-process on one node, in Redis (tied to the node leases) in a cluster.
  let presenceLogged = 0;
  const roomPresence = openings.add(
    'room presence',
    new RoomPresenceTracker({
      bus,
      debounceMs: config.presence.debounceMs,
      backend: cluster?.roomPresence,
      sweepMs: config.cluster.heartbeatMs,
      onError: (err) => {
        // One line a second at most: a Redis outage must not flood the log.
        const now = Date.now();
        if (now - presenceLogged < 1000) return;
        presenceLogged = now;
        log.warn({ err: reasonOf(err) }, "room presence: redis unavailable, using this node's view");
      },
    }),
    (p) => p.close(),
  );
  hub.followers = roomPresence;
  // Stored security events stay within audit.retentionDays and audit.maxRows (contract section 3).
  const pruner = openings.add(
    'audit pruner',
    new AuditPruner(store, {
      retentionDays: config.audit.retentionDays,
      maxRows: config.audit.maxRows,
      intervalMs: config.audit.pruneIntervalMs,
      onError: (err: unknown) => log.error({ err }, 'security event pruning failed'),
    }),
    (p) => p.stop(),
  );
  const audit = new SecurityAudit(store, log, metrics, {
    maxSources: config.audit.maxSources,
    onRowCreated: () => pruner.rowCreated(),
    mayCreateRow: () => pruner.mayCreateRow(),
  });
  reportUnreadable = unreadableReporter(audit);
  if (cluster) watchClusterHealth(cluster.health, audit, log);
  const tls = Boolean(config.tls.cert && config.tls.key);

  const verifier = new TokenVerifier(await resolveVerifyKey(config), config.auth);
  const auth = new SessionAuth(verifier, hub, config, audit);
  const rateLimits = new RateLimits(config.rateLimits, cluster?.limiterFactory);
  const revocations = new Revocations(store, bus, audit);
  const bans = new Bans(store, bus, audit);
  // A cluster on shared storage delivers each room in `seq` order and tells connections of gaps.
  const sequencer = cluster && store.kind === 'postgres' ? new RoomSequencer(sequencerOptions(config, store, hub, log)) : undefined;
  if (cluster && sequencer) {
    hub.watcher = sequencer;
    openings.add('sequencer', sequencer, (q) => q.close());
    cluster.bus.onResubscribed = () => void sequencer.recheck();
  } else if (cluster) {
    log.warn('cluster mode on per-node SQLite storage: history differs per node and live delivery is not checked for gaps; set databaseUrl');
  }
  // This node's name in the admin console's cluster-wide lists.
  const nodeId = cluster?.bus.nodeId ?? randomBytes(6).toString('hex');
  const directory = new ConnectionDirectory(bus, hub, nodeId, { clustered: bus.kind !== 'memory', timeoutMs: 750 });
  deliverBusToHub(bus, hub, bans, revocations, {
    // Bound late: the frame guards are built below, and the bus only delivers once the node runs.
    mute: (user, until) => frameGuards.spam.mute(user, until),
    directory: (message) => directory.receive(message),
    sequencer,
  });
  await Promise.all([revocations.load(), bans.load()]);
  const abuse = new AbuseScores(config, bans, audit, cluster?.abuse);
  const alerts = openings.add('alerts', new AdminAlerts(bus, config.alerts.perSecond, audit), (a) => a.close());
  const webhooks = openings.add(
    'webhooks',
    new Webhooks(config.alerts.webhooks, {
      report: (input) => audit.emit('webhook_failed', input),
      count: (result) => metrics.webhookDeliveries.inc({ result }),
    }),
    (w) => w.close(),
  );
  alerts.onAlert((event) => webhooks.offer(event));
  // Revoked tokens, sessions and users, and disabled accounts (docs/protocol.md "Revocation").
  auth.addCheck((identity) => revocations.denial(identity));
  auth.addCheck(banCheck(bans));
  // Last, so only admissions every other check allowed reserve a place in the cluster count.
  if (cluster) auth.addCheck(cluster.presence.check, { onRefresh: false });

  const onForbidden = (session: Session, action: string, room: string): void => {
    audit.emit('forbidden_action', { ip: session.ip, user: session.user.id, detail: { action, room } });
  };
  const rooms = new Rooms(store, bus, { maxRoomsPerConnection: config.limits.maxRoomsPerConnection, maxRoomsPerUser: config.limits.maxRoomsPerUser, onForbidden });
  const messages = new Messages(store, bus, { onForbidden, presence: roomPresence, typingIntervalMs: config.presence.typingIntervalMs });
  const frameGuards = createFrameGuards({ config, rateLimits, audit, idempotency: cluster?.idempotency });
  const pipeline = new FramePipeline({
    config,
    audit,
    metrics,
    log,
    auth,
    guards: internal.withoutFrameGuards ? [] : frameGuards.list,
    dispatch: createDispatch(rooms, messages),
  });

  let allowedOrigins = new Set<string>();
  const trusted = new Set(config.trustProxy);
  const configured = config.origins.allowed.map((o) => normalizeOrigin(o) ?? o);

  const { app, server } = openings.add(
    'http',
    createHttp({
      config,
      ready: async () => {
        try {
          await store.ping();
        } catch {
          return { status: 'unavailable', reason: 'storage unreachable' };
        }
        // Degraded (Redis unreachable): serving its own connections, but not ready (docs/cluster.md).
        if (cluster && !cluster.health.ok) return { status: 'degraded', reason: cluster.health.reason ?? 'redis unreachable' };
        try {
          await bus.ping();
        } catch {
          return { status: 'unavailable', reason: 'bus unreachable' };
        }
        return undefined;
      },
      metricsText: () => metrics.registry.metrics(),
      metricsContentType: metrics.registry.contentType,
      onMetricsRefused: (req, status, reason) => audit.emit('metrics_refused', { ip: clientIp(req, trusted), detail: { status, reason } }),
    }),
    (h) => h.app.close(),
  );
  // Node's parser refuses an oversized header block before any route or upgrade handler runs;
  // answer it here so the refusal still carries the security headers and records its event.
  server.prependListener('clientError', (error: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    if (error.code !== 'HPE_HEADER_OVERFLOW' || !socket.writable) return;
    metrics.handshakeRefusals.inc({ reason: 'headers' });
    audit.emit('headers_too_large', { ip: (socket as import('node:net').Socket).remoteAddress, detail: { status: 431 } });
    socket.end(`HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n${securityHeaderLines(tls).join('\r\n')}\r\n\r\n`);
  });
  const accounts = config.auth.algorithms.some((a) => a.startsWith('HS'))
    ? new Accounts(store, config, hmacSecret(config), audit, revocations, rateLimits.get('login'), cluster?.limiterFactory)
    : undefined;
  registerAuthRoutes(app, { accounts, verifier, audit, tls, allowedOrigins: () => allowedOrigins, clientIp: (req) => clientIp(req.raw, trusted) });
  // Browsers post CSP violations here (report-uri in the policy), whatever the token issuer.
  registerCspReports(app, {
    audit,
    limiter: rateLimits.get('cspReport'),
    maxBytes: config.limits.maxCspReportBytes,
    allowedOrigins: () => allowedOrigins,
    clientIp: (req) => clientIp(req.raw, trusted),
    bannedUntil: (ip) => bans.active('ip', ip)?.until,
  });
  const userAdmin = new UserAdmin({
    store,
    auth: config.auth,
    revocations,
    record: (action, actor, target, detail) => audit.emit('admin_action', { ip: actor.ip, user: actor.id, detail: { action, target, by: actor.via, ...detail } }),
  });
  registerAdminRoutes(app, {
    config,
    store,
    auth,
    revocations,
    bans,
    bus,
    audit,
    metrics,
    directory,
    users: userAdmin,
    openConnections: () => hub.openCount,
    limiter: rateLimits.get('default', 'ip'),
    allowedOrigins: () => allowedOrigins,
    clientIp: (req) => clientIp(req.raw, trusted),
  });
  // The server API for backends (docs/protocol.md "Server API"): API keys, per-key budget, the frames' guards and write path.
  const apiKeys = openings.add('api keys', new ApiKeyVerifier(store, { onError: (err) => log.error({ err }, 'recording api key use failed') }), (k) => k.close());
  const onApiError = (err: unknown): void => log.error({ err }, 'server API call failed');
  registerApiRoutes(app, {
    keys: apiKeys,
    writes: new ApiWrites({ messages, audit, guards: frameGuards.list.filter((g) => g.name !== 'rate'), onError: onApiError }),
    messages,
    bus,
    audit,
    metrics,
    limiter: rateLimits.get('api'),
    failureLimiter: rateLimits.get('api', 'ip'),
    // The key is trusted with any room, like a member of it (the `presence` scope is the authorization).
    presence: async (room) => ((await store.getRoom(room)) ? roomPresence.members(room) : undefined),
    clientIp: (req) => clientIp(req.raw, trusted),
    onError: onApiError,
  });
  await registerStatic(app);
  registerBanStatus(app, { bans, auth, handshakeRate: rateLimits.get('handshake'), clientIp: (req) => clientIp(req.raw, trusted) });

  // One admission for both transports: their connections share the slots and the pending-auth budget.
  // In a cluster the caps hold across nodes (contract section 5): the places are counted in Redis,
  // and while Redis is unreachable each node admits at its share (limit ÷ live nodes).
  const { limits } = config;
  const maxPending = Math.min(limits.maxPendingAuth, limits.maxConnections);
  const admission = new Admission({
    config,
    audit,
    metrics,
    log,
    handshakeRate: rateLimits.get('handshake'),
    connections: options.admissionCounts?.connections ?? cluster?.counts('slots', { max: limits.maxConnections, maxPerIp: limits.maxConnectionsPerIp }),
    pendingAuth: options.admissionCounts?.pendingAuth ?? cluster?.counts('pending', { max: maxPending, maxPerIp: Math.min(limits.maxPendingAuthPerIp, maxPending) }),
  });
  // Contract section 2 order; the connection slot (step 3, capacity) is taken between the two lists.
  const before = [
    headersGuard(config.limits),
    originGuard({ allowed: () => allowedOrigins, allowMissing: config.origins.allowMissing }),
    ipBanGuard(bans),
    handshakeRateGuard(rateLimits.get('handshake')),
  ];
  const token = tokenGuard(auth, { allowQueryToken: config.auth.allowQueryToken, revoked: (identity) => revocations.denial(identity) });
  const ws = new WsTransport({ config, hub, pipeline, auth, audit, metrics, log, admission, guards: { before, after: [subprotocolGuard(), token, userBanGuard(bans)] }, tls });
  let sio: SocketIoTransport | undefined;

  if (config.socketio.enabled) {
    // The same guards as /ws except the bulwark.v1 subprotocol, which Socket.IO clients cannot offer.
    sio = new SocketIoTransport({
      config,
      hub,
      pipeline,
      auth,
      audit,
      metrics,
      log,
      admission,
      guards: { before, after: [token, userBanGuard(bans)] },
      sessionGuards: before.filter((g) => g.name === 'headers' || g.name === 'origin' || g.name === 'ip-ban'),
      allowedOrigins: () => allowedOrigins,
      tls,
    });
    const transport = sio;
    // Long-polling requests bypass Fastify's routing and body parsing: engine.io reads them itself.
    app.addHook('onRequest', (req, reply, done) => {
      const path = req.url.split('?')[0];
      if (path !== SOCKETIO_PATH && path !== '/socket.io') return done();
      reply.hijack();
      transport.handleRequest(req.raw, reply.raw);
    });
  }

  const upgradeOptions = { admission, trusted, tls, timeoutMs: config.limits.upgradeTimeoutMs };
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ws') return ws.handleUpgrade(req, socket, head);
    if (sio && (path === SOCKETIO_PATH || path === '/socket.io')) return sio.handleUpgrade(req, socket, head);
    refuseUnknownPath(upgradeOptions, req, socket);
  });

  // Revocations and bans written by other processes (CLI, other nodes) arrive within a second.
  const poller = setInterval(() => {
    Promise.all([revocations.poll(), bans.poll()]).catch((err: unknown) => log.error({ err }, 'revocation/ban poll failed'));
    try {
      if (codec?.reloadIfChanged()) log.info({ key: codec.currentKeyId }, 'encryption key ring reloaded');
    } catch (err) {
      log.error({ err }, 'encryption key ring reload failed');
    }
  }, 500);
  poller.unref();
  openings.add('poller', poller, clearInterval);

  let stopped = false;
  const bulwark: Bulwark = {
    config,
    store,
    hub,
    audit,
    metrics,
    bans,
    revocations,
    presence: roomPresence,
    clusterState: () => (cluster ? { liveNodes: cluster.nodes.liveNodes, degraded: cluster.health.reason } : undefined),
    boundedSizes: () => ({
      idempotencyKeys: frameGuards.replay.size,
      spamTracking: frameGuards.spam.size,
      abuseScores: abuse.size,
      revocations: revocations.size,
      webhookQueue: webhooks.size,
      auditSources: audit.size,
      typingWindows: messages.typingKeys,
    }),
    url: '',
    async start() {
      try {
        await app.listen({ host: config.host, port: config.port });
      } catch (error) {
        await bulwark.stop().catch(() => undefined);
        throw new StartupError('listen', `cannot listen on ${config.host}:${config.port} (${reasonOf(error)})`, { cause: error });
      }
      void pruner.run();
      const port = (server.address() as AddressInfo).port;
      allowedOrigins = new Set(configured.length > 0 ? configured : ownOrigins(config.host, port, tls));
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      bulwark.url = `${tls ? 'https' : 'http'}://${host}:${port}`;
      log.info({ url: bulwark.url, store: store.kind, bus: bus.kind, origins: [...allowedOrigins] }, 'bulwark listening');
      const exposed = exposureWarning(config);
      if (exposed) log.warn(exposed);
      return bulwark.url;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(poller);
      alerts.close();
      webhooks.close();
      admission.stopAccepting();
      hub.closeAll(CLOSE.GOING_AWAY, 'server going away');
      await Promise.all([ws.drain(2000), sio?.drain(2000)]);
      ws.close();
      sio?.close();
      admission.close();
      await app.close();
      await apiKeys.close();
      audit.close();
      await roomPresence.close();
      await pruner.stop();
      await store.flush();
      await store.close();
      await codec?.close();
      sequencer?.close();
      await cluster?.close();
      await bus.close();
      log.info('bulwark stopped');
      log.flush?.();
    },
  };
  return bulwark;
}

/** Entering and leaving degraded mode is an event each (contract section 5: a node never fails open silently). */
function watchClusterHealth(health: ClusterHealth, audit: SecurityAudit, log: Logger): void {
  health.onChange({
    degraded(reason) {
      log.warn({ reason }, "cluster degraded: serving this node's connections under node-local limits");
      audit.emit('cluster_degraded', { detail: { reason } });
    },
    recovered(downMs) {
      log.info({ downMs }, 'cluster recovered');
      audit.emit('cluster_recovered', { detail: { downMs } });
    },
  });
}

/** Refuses to start with keys other than those the store was written with (docs/cluster.md "Keys"). */
async function verifyKeys(config: Config, store: Store, codec: EncryptingCodec | undefined): Promise<void> {
  let problems: string[];
  try {
    problems = await keyMismatches(store, { encryption: codec && { ring: codec.keyRing, codec }, jwt: jwtKeyMaterial(config) });
  } catch (error) {
    throw new StartupError('database', `checking the keys against the store failed (${reasonOf(error)})`, { cause: error });
  }
  if (problems.length > 0) {
    throw new StartupError('keys', `${problems.join('; ')}. Every node sharing a store needs the same keys: see docs/cluster.md, "Keys"`);
  }
}

function sequencerOptions(config: Config, store: Store, hub: Hub, log: Logger): SequencerOptions {
  return {
    reorderMs: config.cluster.reorderMs,
    maxHeld: config.cluster.reorderMaxMessages,
    // The latest row of a room (deleted ones keep their seq) is its tail.
    tail: async (roomId) => (await store.history(roomId, { limit: 1 })).messages[0]?.seq ?? 0,
    deliver: (envelope) => hub.deliver(envelope),
    onError: (err) => log.error({ err: reasonOf(err) }, 'reading a room tail failed'),
  };
}
