/**
 * Serves the built web app (`web/dist`): `/` the chat, `/admin` the admin console, hashed
 * assets under `/assets/`. Everything is same-origin static files, so the strict CSP holds.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** The package root, found from this file whether it runs from src/ (tsx) or dist/src/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'bulwark') return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export async function registerStatic(app: FastifyInstance): Promise<void> {
  const root = join(packageRoot(), 'web', 'dist');
  if (!existsSync(root)) {
    const missing = 'The web app is not built: run npm run build.';
    app.get('/', async (_req, reply) => reply.code(503).type('text/plain').send(missing));
    app.get('/admin', async (_req, reply) => reply.code(503).type('text/plain').send(missing));
    return;
  }
  await app.register(fastifyStatic, { root, prefix: '/', index: false, wildcard: false, dotfiles: 'deny' });
  app.get('/', async (_req, reply) => reply.sendFile('index.html'));
  app.get('/admin', async (_req, reply) => reply.sendFile('admin.html'));
}
