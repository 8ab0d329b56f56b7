import { statFamilyPrefix, type HistogramData, type StatsSnapshot } from './stats.js';

/**
 * Overload gauges are per worker (each has its own heap): the process shows the highest pressure
 * and an action as active when it is active on any worker.
 */
const OVERLOAD_PREFIX = statFamilyPrefix('overload');

/** The sum of every worker's stats: counters and gauges added (overload gauges: the highest), Istio series merged by label set. */
export function aggregateStats(snapshots: readonly StatsSnapshot[]): StatsSnapshot {
  const counters: Record<string, number> = {};
  const gauges: Record<string, number> = {};
  const series = new Map<string, StatsSnapshot['istioRequests'][number]>();
  const tcp = new Map<string, StatsSnapshot['istioTcp'][number]>();
  for (const s of snapshots) {
    for (const k in s.counters) counters[k] = (counters[k] ?? 0) + s.counters[k];
    for (const k in s.gauges) gauges[k] = k.startsWith(OVERLOAD_PREFIX) ? Math.max(gauges[k] ?? 0, s.gauges[k]) : (gauges[k] ?? 0) + s.gauges[k];
    for (const r of s.istioRequests) {
      const key = JSON.stringify([r.metrics, Object.entries(r.labels).sort()]);
      const cur = series.get(key);
      if (!cur) {
        series.set(key, structuredClone(r));
        continue;
      }
      cur.count += r.count;
      addHistogram(cur.duration, r.duration);
      addHistogram(cur.requestBytes, r.requestBytes);
      addHistogram(cur.responseBytes, r.responseBytes);
    }
    for (const t of s.istioTcp) {
      const key = JSON.stringify([t.metrics, Object.entries(t.labels).sort()]);
      const cur = tcp.get(key);
      if (!cur) {
        tcp.set(key, { ...t, labels: { ...t.labels } });
        continue;
      }
      cur.opened += t.opened;
      cur.closed += t.closed;
      cur.sentBytes += t.sentBytes;
      cur.receivedBytes += t.receivedBytes;
    }
  }
  return { counters, gauges, istioRequests: [...series.values()], istioTcp: [...tcp.values()] };
}

function addHistogram(into: HistogramData, from: HistogramData): void {
  for (let i = 0; i < into.counts.length; i++) into.counts[i] += from.counts[i];
  into.sum += from.sum;
}
