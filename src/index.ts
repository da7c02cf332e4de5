/** Library entry: embed a Bulwark node in your own process. */
export { createBulwark, type Bulwark, type BulwarkOptions } from './server.js';
export { loadConfig, ConfigError } from './config/load.js';
export type { Config, ConfigInput } from './config/schema.js';
export * from './protocol/index.js';
