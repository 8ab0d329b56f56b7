import { atoi, goLess } from './go-strings.js';

/** The parts of an Istio cluster name `direction|port|subset|hostname` (pilot's ParseSubsetKey). */
export interface SubsetKey {
  direction: string;
  port: number;
  subset: string;
  hostname: string;
}

/**
 * pilot/pkg/model ParseSubsetKey: `dir|port|subset|host`, or the DNS SRV form `outbound_.port_.subset_.host`
 * (separator `_.`). Stops at the first part that is missing (what was read so far is kept); a
 * hostname that still holds the separator is dropped; a port that is not a number is 0.
 */
export function parseSubsetKey(key: string): SubsetKey {
  const out: SubsetKey = { direction: '', port: 0, subset: '', hostname: '' };
  const sep = key.startsWith('outbound_') || key.startsWith('inbound_') ? '_.' : '|';
  const direction = cut(key, sep);
  if (!direction) return out;
  out.direction = direction[0];
  const port = cut(direction[1], sep);
  if (!port) return out;
  out.port = atoi(port[0]) ?? 0;
  const subset = cut(port[1], sep);
  if (!subset) return out;
  out.subset = subset[0];
  if (!subset[1].includes(sep)) out.hostname = subset[1];
  return out;
}

/** strings.Cut: the text before and after the first `sep`, or undefined without one. */
function cut(s: string, sep: string): [string, string] | undefined {
  const i = s.indexOf(sep);
  return i < 0 ? undefined : [s.slice(0, i), s.slice(i + sep.length)];
}

/** istioctl's safelyParseSubsetKey: only a name of more than three `|` parts is parsed; any other is all hostname. */
export function safelyParseSubsetKey(name: string): SubsetKey {
  if (name.split('|').length > 3) return parseSubsetKey(name);
  return { direction: '', port: 0, subset: '', hostname: name };
}

/** The order istioctl sorts clusters and endpoint assignments in: hostname, subset, port, direction. */
export function subsetKeyLess(a: SubsetKey, b: SubsetKey): boolean {
  if (a.hostname !== b.hostname) return goLess(a.hostname, b.hostname);
  if (a.subset !== b.subset) return goLess(a.subset, b.subset);
  if (a.port !== b.port) return a.port < b.port;
  return goLess(a.direction, b.direction);
}
