/**
 * The one way Bulwark keeps state keyed by client-controlled values: an LRU bounded by entry
 * count and by age. lru-cache's `max` preallocates its arrays (800 KB per 100,000 slots) up
 * front; `maxSize` with a unit size gives the same bound while the arrays grow with use.
 */
import { LRUCache } from 'lru-cache';

export function boundedCache<K extends NonNullable<unknown>, V extends NonNullable<unknown>>(maxEntries: number, ttlMs: number): LRUCache<K, V> {
  return new LRUCache<K, V>({ maxSize: maxEntries, sizeCalculation: () => 1, ttl: ttlMs, updateAgeOnGet: false });
}
