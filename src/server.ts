/**
 * Assembles one Bulwark node from its configuration: store, bus, hub, security audit, auth,
 * guards, domain, pipeline and transports. `start()` listens; `stop()` is the SIGTERM path:
 * stop accepting, close sockets with 1001, flush storage.
 */
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
import { PresenceHub } from './cluster/presence.js';
import type { Config } from './config/schema.js';
import { createDispatch } from './domain/dispatch.js';
import { Messages } from './domain/messages.js';
import { Rooms } from './domain/rooms.js';
import type { Session } from './domain/session.js';
import { capacityGuard } from './guards/handshake/capacity.js';
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
import { PostgresStore } from './store/postgres-store.js';
import { AbuseScores } from './security/abuse.js';
import { AdminAlerts } from './security/alerts.js';
import { EncryptingCodec, KEYS_FILE, loadKeyRing } from './security/at-rest.js';
import type { Store } from './store/store.js';
import { createHttp } from './transport/http.js';
import { registerAuthRoutes } from './transport/api-auth.js';
import { registerCspReports } from './transport/csp-reports.js';
import { registerStatic } from './transport/static.js';
import { clientIp } from './transport/client-ip.js';
import { Bans } from './security/bans.js';
import { ipBanGuard, userBanGuard } from './guards/handshake/ban.js';
import { Hub } from './fanout/hub.js';
import { deliverBusToHub } from './fanout/bus-delivery.js';
import { securityHeaderLines } from './transport/security-headers.js';
import { WsTransport } from './transport/ws.js';
import { exposureWarning } from './config/exposure.js';
import { SOCKETIO_PATH, SocketIoTransport } from './transport/socketio.js';

export interface BulwarkOptions {
  logger?: Logger;
  store?: Store;
  bus?: Bus;
  /** Prefix of every Redis key and channel of the cluster (tests isolate runs with it). @default 'bulwark:' */
  redisPrefix?: string;
}

export interface Bulwark {
  readonly config: Config;
  readonly store: Store;
  readonly hub: Hub;
  readonly audit: SecurityAudit;
  readonly metrics: Metrics;
  readonly bans: Bans;
  readonly revocations: Revocations;
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
 * Assembly switches for in-repository tools, never part of the public options or the package's
 * exports (`bulwark` exports `createBulwark` only): `bench/rtt.ts` measures what the frame guards
 * cost by running without them.
 */
export interface InternalAssembly {
  /** Run frames without the frame guards (rate, replay, sanitize, spam). */
  withoutFrameGuards?: boolean;
}

export function createBulwark(config: Config, options: BulwarkOptions = {}): Promise<Bulwark> {
  return assembleBulwark(config, options, {});
}

export async function assembleBulwark(config: Config, options: BulwarkOptions, internal: InternalAssembly): Promise<Bulwark> {
  const log = options.logger ?? createLogger(config.logLevel);
  const metrics = new Metrics({ defaults: true });
  const codec = config.encryption.enabled
    ? new EncryptingCodec(loadKeyRing(config.dataDir), process.env.BULWARK_ENCRYPTION_KEYS ? undefined : join(config.dataDir, KEYS_FILE))
    : undefined;
  const storeHooks = {
    codec,
    onBackgroundError: (err: unknown) => log.error({ err }, 'background write failed'),
    onCommit: (ms: number) => metrics.storeLatency.observe({ op: 'batch' }, ms / 1000),
  };
  // With databaseUrl, PostgreSQL (migrated before use, shareable by several nodes); else SQLite under dataDir.
  const store: Store =
    options.store ??
    (config.databaseUrl ? await PostgresStore.open({ url: config.databaseUrl, ...storeHooks }) : new SqliteStore({ path: join(config.dataDir, 'bulwark.db'), ...storeHooks }));
  // With redisUrl, the bus, rate limits, per-user connection cap and idempotency keys are cluster-wide.
  const cluster =
    config.redisUrl && !options.bus
      ? await createCluster({ url: config.redisUrl, prefix: options.redisPrefix, maxConnectionsPerUser: config.limits.maxConnectionsPerUser, log })
      : undefined;
  const bus: Bus = options.bus ?? cluster?.bus ?? new MemoryBus();
  const onDelivered = (type: string, count: number): void => metrics.frameOut(type, count);
  const hub = cluster ? new PresenceHub(cluster.presence, onDelivered) : new Hub(onDelivered);
  // Stored security events stay within audit.retentionDays and audit.maxRows (contract section 3).
  const pruner = new AuditPruner(store, {
    retentionDays: config.audit.retentionDays,
    maxRows: config.audit.maxRows,
    intervalMs: config.audit.pruneIntervalMs,
    onError: (err: unknown) => log.error({ err }, 'security event pruning failed'),
  });
  const audit = new SecurityAudit(store, log, metrics, {
    maxSources: config.audit.maxSources,
    onRowCreated: () => pruner.rowCreated(),
    mayCreateRow: () => pruner.mayCreateRow(),
  });
  const tls = Boolean(config.tls.cert && config.tls.key);

  const verifier = new TokenVerifier(await resolveVerifyKey(config), config.auth);
  const auth = new SessionAuth(verifier, hub, config, audit);
  const rateLimits = new RateLimits(config.rateLimits, cluster?.limiterFactory);
  const revocations = new Revocations(store, bus, audit);
  const bans = new Bans(store, bus, audit);
  deliverBusToHub(bus, hub, bans, revocations);
  await Promise.all([revocations.load(), bans.load()]);
  const abuse = new AbuseScores(config, bans, audit);
  const alerts = new AdminAlerts(bus, config.alerts.perSecond, audit);
  auth.addCheck((identity, ip) => {
    if (revocations.isRevoked(identity.jti)) return { close: CLOSE.UNAUTHENTICATED, reason: 'token revoked', event: 'token_revoked' };
    const ban = bans.active('user', identity.id) ?? bans.active('ip', ip);
    return ban ? { close: CLOSE.FORBIDDEN, reason: 'banned', event: 'banned_refused', detail: { kind: ban.kind } } : undefined;
  });
  // Last, so only admissions every other check allowed reserve a place in the cluster count.
  if (cluster) auth.addCheck(cluster.presence.check, { onRefresh: false });

  const onForbidden = (session: Session, action: string, room: string): void => {
    audit.emit('forbidden_action', { ip: session.ip, user: session.user.id, detail: { action, room } });
  };
  const rooms = new Rooms(store, bus, { maxRoomsPerConnection: config.limits.maxRoomsPerConnection, onForbidden });
  const messages = new Messages(store, bus, { onForbidden });
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

  const { app, server } = createHttp({
    config,
    ready: async () => {
      await store.ping();
      await bus.ping();
    },
    metricsText: () => metrics.registry.metrics(),
    metricsContentType: metrics.registry.contentType,
    onMetricsRefused: (req, status, reason) => audit.emit('metrics_refused', { ip: clientIp(req, trusted), detail: { status, reason } }),
  });
  // Node's parser refuses an oversized header block before any route or upgrade handler runs;
  // answer it here so the refusal still carries the security headers and records its event.
  server.prependListener('clientError', (error: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    if (error.code !== 'HPE_HEADER_OVERFLOW' || !socket.writable) return;
    metrics.handshakeRefusals.inc({ reason: 'headers' });
    audit.emit('headers_too_large', { ip: (socket as import('node:net').Socket).remoteAddress, detail: { status: 431 } });
    socket.end(`HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n${securityHeaderLines(tls).join('\r\n')}\r\n\r\n`);
  });
  const accounts = config.auth.algorithms.some((a) => a.startsWith('HS'))
    ? new Accounts(store, config, hmacSecret(config), audit, revocations, rateLimits.get('login'))
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
  await registerStatic(app);

  // eslint-disable-next-line prefer-const
  let ws: WsTransport;
  let sio: SocketIoTransport | undefined;
  const handshakeGuards = [
    headersGuard(config.limits),
    originGuard({ allowed: () => allowedOrigins, allowMissing: config.origins.allowMissing }),
    ipBanGuard(bans),
    handshakeRateGuard(rateLimits.get('handshake')),
    // Both transports' connections count (the hub holds both; each adds its handshakes in flight).
    capacityGuard({ total: () => ws.total() + (sio?.pending() ?? 0), perIp: (ip) => ws.perIp(ip) + (sio?.pendingFrom(ip) ?? 0) }, config.limits),
    subprotocolGuard(),
    tokenGuard(auth, config.auth.allowQueryToken),
    userBanGuard(bans),
  ];
  ws = new WsTransport({ config, hub, pipeline, auth, audit, metrics, log, guards: handshakeGuards, tls });

  if (config.socketio.enabled) {
    // The same guards as /ws except the bulwark.v1 subprotocol, which Socket.IO clients cannot offer.
    const guards = handshakeGuards.filter((g) => g.name !== 'subprotocol');
    sio = new SocketIoTransport({
      config,
      hub,
      pipeline,
      auth,
      audit,
      metrics,
      log,
      guards,
      sessionGuards: guards.filter((g) => g.name === 'headers' || g.name === 'origin' || g.name === 'ip-ban'),
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

  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ws') return ws.handleUpgrade(req, socket, head);
    if (sio && (path === SOCKETIO_PATH || path === '/socket.io')) return sio.handleUpgrade(req, socket, head);
    socket.on('error', () => socket.destroy());
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
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

  let stopped = false;
  const bulwark: Bulwark = {
    config,
    store,
    hub,
    audit,
    metrics,
    bans,
    revocations,
    boundedSizes: () => ({
      idempotencyKeys: frameGuards.replay.size,
      spamTracking: frameGuards.spam.size,
      abuseScores: abuse.size,
      revocations: revocations.size,
      auditSources: audit.size,
    }),
    url: '',
    async start() {
      await app.listen({ host: config.host, port: config.port });
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
      ws.stopAccepting();
      sio?.stopAccepting();
      hub.closeAll(CLOSE.GOING_AWAY, 'server going away');
      await Promise.all([ws.drain(2000), sio?.drain(2000)]);
      ws.close();
      sio?.close();
      await app.close();
      audit.close();
      await pruner.stop();
      await store.flush();
      await store.close();
      await codec?.close();
      await cluster?.close();
      await bus.close();
      log.info('bulwark stopped');
      log.flush?.();
    },
  };
  return bulwark;
}
