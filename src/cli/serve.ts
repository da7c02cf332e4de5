/** `bulwark serve`: runs a node until SIGTERM/SIGINT, then shuts down cleanly and exits 0. */
import { loadConfig } from '../config/load.js';
import { createBulwark } from '../server.js';

export async function serve(args: string[]): Promise<number> {
  const config = loadConfig({ args });
  const bulwark = await createBulwark(config);
  const url = await bulwark.start();
  console.log(`bulwark listening on ${url} (ws: ${url.replace(/^http/, 'ws')}/ws)`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      bulwark.stop().then(resolve, (error: unknown) => {
        console.error('bulwark: shutdown failed', error);
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}
