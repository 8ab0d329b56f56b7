/**
 * Envoy's JitteredExponentialBackOffStrategy: before try n (1-based) wait a uniform random time in
 * [0, min(base × 2^(n-1), max)] — the ceiling doubles per try and stops at max ("full jitter", so
 * clients that failed together spread out). Used by the router's retries and the xDS reconnects.
 */
export function jitteredBackoffMs(n: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** (n - 1), maxMs);
  return Math.floor(random() * (ceiling + 1));
}
