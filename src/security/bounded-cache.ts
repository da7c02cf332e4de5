/**
 * The one way Bulwark keeps state keyed by client-controlled values: an LRU bounded by entry
 * count and by age. lru-cache's `max` preallocates its arrays (800 KB per 100,000 slots) up
 * front; `maxSize` with a unit size gives the same bound while the arrays grow with use.
 *
 * Age is read from a clock lru-cache refreshes with a timer: at its default resolution (1 ms) a
 * busy cache arms a Node timer every millisecond. A resolution of 1 % of the age bound (1 ms to
 * 1 s) arms one at most every 1 % of it; an entry then lives at most 1 % longer than `ttlMs`.
 */
import { LRUCache } from 'lru-cache';

export function boundedCache<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(maxEntries: number, ttlMs: number): LRUCache<K, V> {
  const ttlResolution = Math.min(1000, Math.max(1, Math.floor(ttlMs / 100)));
  return new LRUCache<K, V>({ maxSize: maxEntries, sizeCalculation: () => 1, ttl: ttlMs, ttlResolution, updateAgeOnGet: false });
}
