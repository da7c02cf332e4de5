/**
 * Latency histogram with ~1% relative precision from 1 µs to minutes, cheap to record into and
 * to merge across load-generator processes (sent over IPC as sparse [bucket, count] pairs).
 */
const GROWTH = Math.log(1.01);
const BUCKETS = 2048;

export type SparseHist = Array<[number, number]>;

export class Hist {
  readonly counts = new Float64Array(BUCKETS);
  n = 0;

  record(ms: number): void {
    const us = ms * 1000;
    let i = us <= 1 ? 0 : Math.ceil(Math.log(us) / GROWTH);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]! += 1;
    this.n++;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
  }

  toSparse(): SparseHist {
    const out: SparseHist = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  add(sparse: SparseHist): void {
    for (const [i, c] of sparse) {
      this.counts[i]! += c;
      this.n += c;
    }
  }

  /** The q-quantile (0..1) in milliseconds; NaN when empty. */
  quantile(q: number): number {
    if (this.n === 0) return Number.NaN;
    const target = q * this.n;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return Math.exp(i * GROWTH) / 1000;
    }
    return Math.exp((BUCKETS - 1) * GROWTH) / 1000;
  }
}

export function mergeHists(parts: SparseHist[]): Hist {
  const h = new Hist();
  for (const p of parts) h.add(p);
  return h;
}
