import type { CompiledRegex } from '../common/regex.js';
import { splitStatKey, type StatsSnapshot } from './stats.js';

export interface StatsQuery {
  usedOnly: boolean;
  filter?: CompiledRegex;
}

/**
 * Envoy's dotted stat names with values, sorted: the data behind admin `/stats`. `usedOnly` drops
 * the workers' stats at zero (a counter at zero was never incremented); `extra` holds the agent's
 * stats that were written (server.state, the xDS update counters), listed at any value, zero
 * included, as Envoy's `usedonly` lists every stat ever written.
 */
export function envoyStatEntries(stats: StatsSnapshot, extra: Record<string, number>, q: StatsQuery): [string, number][] {
  const out: [string, number][] = [];
  const add = (name: string, v: number, written = false) => {
    if (q.usedOnly && v === 0 && !written) return;
    if (q.filter && !q.filter.test(name)) return;
    out.push([name, v]);
  };
  for (const src of [stats.counters, stats.gauges]) {
    for (const key in src) {
      const [family, tag, stat] = splitStatKey(key);
      if (family === 'host') continue; // per-endpoint counters belong to /clusters, as in Envoy
      add(`${family}.${tag}.${stat}`, src[key]);
    }
  }
  for (const name in extra) add(name, extra[name], true);
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out;
}

/** `/stats` text: `name: value` lines. */
export function renderEnvoyText(entries: [string, number][]): string {
  return entries.map(([n, v]) => `${n}: ${v}\n`).join('');
}

export function renderEnvoyJson(entries: [string, number][]): string {
  return JSON.stringify({ stats: entries.map(([name, value]) => ({ name, value })) }, null, 1);
}
