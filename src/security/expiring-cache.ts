/**
 * A map that forgets entries by age, with no timer and no bookkeeping per entry: for state that
 * is written on every message (idempotency keys), where an LRU with a TTL keeps every stale
 * entry until its count bound evicts it (lru-cache only drops a stale entry when it is read;
 * `ttlAutopurge` adds a timer per entry and measured 624 B per key against 297 for a Map).
 *
 * Entries live in generations, plain Maps, each collecting the writes of one slice of
 * `ttlMs / slices`. A generation is dropped whole once its newest entry is older than `ttlMs`, so
 * an entry is remembered for at least `ttlMs` and at most `ttlMs + ttlMs / slices`. A generation
 * also closes once it holds `maxEntries / (slices + 1)` entries, and past `maxEntries` the oldest
 * is dropped early: a flood keeps between `slices / (slices + 1)` of `maxEntries` and all of it,
 * newest first, as an LRU would. Time advances on each call: an idle cache keeps its entries
 * until it is next used.
 */
export interface ExpiringCacheOptions {
  ttlMs: number;
  maxEntries: number;
  /** Generations per `ttlMs`: more means entries outlive `ttlMs` by less, and lookups check more Maps. @default 4 */
  slices?: number;
  /** The clock (tests inject one). @default Date.now */
  now?: () => number;
}

export class ExpiringCache<K, V> {
  /** Newest first; `starts[i]` is when generation i began collecting writes. */
  private generations: Array<Map<K, V>> = [new Map()];
  private starts: number[];
  private readonly slice: number;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  /** Entries one generation collects before the next one opens. */
  private readonly perGeneration: number;
  private readonly now: () => number;
  private count = 0;

  constructor(options: ExpiringCacheOptions) {
    this.ttlMs = options.ttlMs;
    this.maxEntries = Math.max(1, options.maxEntries);
    const slices = Math.max(1, options.slices ?? 4);
    this.slice = Math.max(1, Math.ceil(options.ttlMs / slices));
    this.perGeneration = Math.max(1, Math.floor(this.maxEntries / (slices + 1)));
    this.now = options.now ?? Date.now;
    this.starts = [this.now()];
  }

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    this.advance();
    const gens = this.generations;
    for (let i = 0; i < gens.length; i++) {
      const v = gens[i]!.get(key);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Stores `value` as of now (a key written again starts its age again). */
  set(key: K, value: V): void {
    this.advance();
    const gens = this.generations;
    // An older copy would outlive the new one's count, and be found first by nobody: remove it.
    for (let i = 1; i < gens.length; i++) if (gens[i]!.delete(key)) this.count--;
    const current = gens[0]!;
    const before = current.size;
    current.set(key, value);
    if (current.size !== before) this.added(current);
  }

  private added(current: Map<K, V>): void {
    this.count++;
    if (current.size >= this.perGeneration) this.open(this.now());
    // Over the bound: forget the oldest generation(s), never the one just written.
    let keep = this.generations.length;
    while (this.count > this.maxEntries && keep > 1) this.dropFrom(--keep);
  }

  /** `set` for a key that `get` just missed (same turn): skips looking for an older copy. */
  add(key: K, value: V): void {
    this.advance();
    const current = this.generations[0]!;
    const before = current.size;
    current.set(key, value);
    if (current.size !== before) this.added(current);
  }

  delete(key: K): boolean {
    for (const gen of this.generations) {
      if (gen.delete(key)) {
        this.count--;
        return true;
      }
    }
    return false;
  }

  clear(): void {
    this.generations = [new Map()];
    this.starts = [this.now()];
    this.count = 0;
  }

  /** Opens a new generation when the slice is over and drops those past the age limit. */
  private advance(): void {
    const now = this.now();
    if (now - this.starts[0]! >= this.slice) this.open(now);
    // Generation i was written to before starts[i - 1] and before its own start plus a slice
    // (a later write would have opened a new one): all of it is older than ttlMs once that is.
    const starts = this.starts;
    let keep = this.generations.length;
    while (keep > 1 && now - Math.min(starts[keep - 2]!, starts[keep - 1]! + this.slice) >= this.ttlMs) keep--;
    this.dropFrom(keep);
  }

  private open(now: number): void {
    this.generations.unshift(new Map());
    this.starts.unshift(now);
  }

  private dropFrom(keep: number): void {
    while (this.generations.length > keep) {
      this.count -= this.generations.pop()!.size;
      this.starts.pop();
    }
  }
}
