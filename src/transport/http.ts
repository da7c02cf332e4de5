/**
 * The one HTTP(S) server: Fastify routes for health, readiness, metrics and the apps, security
 * headers on every response, and the upgrade hook that hands `/ws` to the WebSocket transport.
 * The Node server is built here so header size, header count and timeouts are bounded.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import { securityHeaders } from './security-headers.js';
import { metricsAccess } from './metrics-access.js';

/** Why a node is not ready: `degraded` (serving its own connections, Redis unreachable) or `unavailable`. */
export interface NotReady {
  status: 'degraded' | 'unavailable';
  reason: string;
}

export interface HttpServerOptions {
  config: Config;
  /** Readiness: undefined when storage and bus are usable, else the state and a short reason (fixed wording, no internals). */
  ready(): Promise<NotReady | undefined>;
  metricsText(): Promise<string>;
  metricsContentType: string;
  /** A `/metrics` request refused (404 without a token from an outside peer, 403 with a wrong token). */
  onMetricsRefused?(req: IncomingMessage, status: number, reason: string): void;
}

export function createHttp(options: HttpServerOptions): { app: FastifyInstance; server: Server } {
  const { config } = options;
  const tls = Boolean(config.tls.cert && config.tls.key);
  const headers = securityHeaders(tls);
  let server!: Server;
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    trustProxy: false,
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
      const serverOptions = { maxHeaderSize: Math.max(config.limits.maxHeaderBytes, 4096), requestTimeout: 30_000, headersTimeout: 10_000 };
      server = tls
        ? (createHttpsServer({ ...serverOptions, cert: readFileSync(config.tls.cert!), key: readFileSync(config.tls.key!) }, handler) as unknown as Server)
        : createHttpServer(serverOptions, handler);
      server.maxHeadersCount = config.limits.maxHeaderCount;
      return server;
    },
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(headers);
    return payload;
  });
  app.setErrorHandler((error: { statusCode?: number }, _req, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    void reply
      .code(status)
      .send({ error: status === 500 ? 'INTERNAL' : 'BAD_REQUEST', message: status === 500 ? 'Something went wrong on the server.' : 'The request is not valid.' });
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send({ error: 'NOT_FOUND', message: 'No such resource.' });
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    let notReady: NotReady | undefined;
    try {
      notReady = await options.ready();
    } catch {
      notReady = { status: 'unavailable', reason: 'readiness check failed' };
    }
    return notReady ? reply.code(503).send(notReady) : { status: 'ready' };
  });
  const metricsAllowed = metricsAccess({ token: config.metrics.token, trustProxy: config.trustProxy });
  app.get('/metrics', async (req, reply) => {
    const verdict = metricsAllowed(req.raw);
    if (!verdict.ok) {
      options.onMetricsRefused?.(req.raw, verdict.status, verdict.reason);
      return reply.code(verdict.status).send(verdict.status === 404 ? { error: 'NOT_FOUND', message: 'No such resource.' } : { error: 'FORBIDDEN', message: 'Not allowed.' });
    }
    reply.header('Cache-Control', 'no-store');
    reply.type(options.metricsContentType);
    return options.metricsText();
  });
  return { app, server };
}
