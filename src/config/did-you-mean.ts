/**
 * "Did you mean …?" for mistyped commands, flags and configuration keys: the closest candidate
 * by edit distance, when it is close enough to be a typo rather than a different word.
 */

/** Levenshtein distance (insertions, deletions, substitutions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  if (s === t) return 0;
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = row;
  }
  return prev[t.length]!;
}

/**
 * The candidate nearest to `input`, or undefined when none is within a third of the input's
 * length (at least 2 edits allowed): `maxPayloadByts` finds `maxPayloadBytes`, `xyz` finds nothing.
 */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  const budget = Math.max(2, Math.floor(input.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(input, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= budget ? best : undefined;
}

/** ` (did you mean "x"?)` or an empty string. */
export function didYouMean(input: string, candidates: Iterable<string>, render: (c: string) => string = (c) => `"${c}"`): string {
  const match = closest(input, candidates);
  return match === undefined ? '' : ` (did you mean ${render(match)}?)`;
}
