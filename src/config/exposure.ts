/** Start-up warnings about a configuration that exposes the server (docs/deploy.md). */
import type { Config } from './schema.js';

/** True for an address only this machine can reach. `0.0.0.0` and `::` bind every interface: not loopback. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Why this configuration is exposed, or undefined: a non-loopback bind without TLS and without a
 * trusted proxy in front serves tokens and messages in clear text to the network.
 */
export function exposureWarning(config: Pick<Config, 'host' | 'tls' | 'trustProxy'>): string | undefined {
  if (isLoopbackHost(config.host) || (config.tls.cert && config.tls.key) || config.trustProxy.length > 0) return undefined;
  return `listening on ${config.host} without TLS and without a trusted proxy: tokens and messages cross the network in clear text. Set tls.cert/tls.key, or put a TLS-terminating proxy in front and list it in trustProxy (docs/deploy.md).`;
}
