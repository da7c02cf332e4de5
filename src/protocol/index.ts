export * from './errors.js';
export * from './close-codes.js';
export * from './frames.js';
export * from './markup.js';
export * from './bans.js';
export * from './constants.js';
export * from './room-name.js';
