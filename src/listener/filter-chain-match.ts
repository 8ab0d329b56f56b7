import type { FilterChain } from '../config/snapshot.js';
import { CidrSet, parseCidr, type Cidr } from '../common/cidr.js';

/** What protocol detection found in the first bytes (nothing when no chain needed to look). */
export interface Inspected {
  transportProtocol: 'tls' | 'raw_buffer';
  serverName?: string;
  applicationProtocols: readonly string[];
}

interface CompiledChain<T> {
  chain: FilterChain;
  value: T;
  ranges?: CidrSet;
  serverNames?: { exact: Set<string>; suffixes: string[] };
}

/**
 * Envoy's filter chain selection, compiled once per listener: the most specific chain wins at each
 * step — destination port, destination IP (longest prefix), SNI (exact, then the longest wildcard),
 * transport protocol, application protocol — and a chain that leaves a criterion unset only
 * competes when no chain names a value that matches. There is no backtracking: when the chains
 * left after one step all fail the next, nothing matches (the listener's default chain applies).
 */
export class FilterChainMatcher<T> {
  private readonly byPort = new Map<number, CompiledChain<T>[]>();
  private readonly anyPort: CompiledChain<T>[] = [];

  constructor(chains: readonly { chain: FilterChain; value: T }[]) {
    for (const { chain, value } of chains) {
      const m = chain.match;
      const c: CompiledChain<T> = { chain, value };
      if (m.prefixRanges?.length) c.ranges = new CidrSet(m.prefixRanges.map(parseCidr).filter((x): x is Cidr => !!x));
      if (m.serverNames?.length) {
        const exact = new Set(m.serverNames.filter((n) => !n.startsWith('*')));
        // `*.example.com` matches `a.example.com` and `a.b.example.com` (Envoy); `*` matches every SNI
        const suffixes = m.serverNames.filter((n) => n.startsWith('*')).map((n) => n.slice(1));
        c.serverNames = { exact, suffixes };
      }
      if (m.destinationPort === undefined) this.anyPort.push(c);
      else {
        let list = this.byPort.get(m.destinationPort);
        if (!list) this.byPort.set(m.destinationPort, (list = []));
        list.push(c);
      }
    }
  }

  /** The chains still in the running after the destination port and IP. */
  candidates(address: string, port: number): CompiledChain<T>[] {
    const list = this.byPort.get(port) ?? this.anyPort;
    if (list.length === 1 && !list[0].ranges) return list;
    return byIp(list, address);
  }

  /** Does choosing among these chains need the first bytes (SNI, TLS or not, HTTP or not)? */
  static needsInspection<T>(candidates: readonly CompiledChain<T>[]): boolean {
    for (const c of candidates) {
      const m = c.chain.match;
      if (m.serverNames?.length || m.transportProtocol || m.applicationProtocols?.length) return true;
    }
    return false;
  }

  /** The winning chain among the candidates, given what inspection found. */
  static select<T>(candidates: readonly CompiledChain<T>[], seen: Inspected | undefined): CompiledChain<T> | undefined {
    if (candidates.length === 0) return undefined;
    if (!seen) return candidates.length === 1 || !FilterChainMatcher.needsInspection(candidates) ? candidates[0] : undefined;
    let list = bySni(candidates, seen.serverName);
    list = narrow(list, (c) => c.chain.match.transportProtocol, (v) => v === seen.transportProtocol);
    list = narrow(list, (c) => c.chain.match.applicationProtocols?.length ? c.chain.match.applicationProtocols : undefined, (v) => v.some((p) => seen.applicationProtocols.includes(p)));
    return list[0];
  }
}

/** Longest matching prefix wins; chains without ranges only when no range matches. */
function byIp<T>(list: CompiledChain<T>[], address: string): CompiledChain<T>[] {
  let best = -1;
  let out: CompiledChain<T>[] = [];
  for (const c of list) {
    if (!c.ranges) continue;
    const len = c.ranges.longestMatch(address);
    if (len > best) {
      best = len;
      out = [c];
    } else if (len === best && len >= 0) out.push(c);
  }
  return best >= 0 ? out : list.filter((c) => !c.ranges);
}

/** Exact SNI, then the longest matching wildcard, then chains without server names. */
function bySni<T>(list: readonly CompiledChain<T>[], sni: string | undefined): CompiledChain<T>[] {
  if (sni !== undefined) {
    const exact = list.filter((c) => c.serverNames?.exact.has(sni));
    if (exact.length) return exact;
    let best = -1;
    let out: CompiledChain<T>[] = [];
    for (const c of list) {
      for (const s of c.serverNames?.suffixes ?? []) {
        if (!(s === '' || (sni.endsWith(s) && sni.length > s.length))) continue;
        if (s.length > best) {
          best = s.length;
          out = [c];
        } else if (s.length === best) out.push(c);
      }
    }
    if (out.length) return out;
  }
  return list.filter((c) => !c.serverNames);
}

/** Chains naming a matching value, else those that name none. */
function narrow<T, V>(list: CompiledChain<T>[], get: (c: CompiledChain<T>) => V | undefined, matches: (v: V) => boolean): CompiledChain<T>[] {
  const specific = list.filter((c) => {
    const v = get(c);
    return v !== undefined && matches(v);
  });
  return specific.length ? specific : list.filter((c) => get(c) === undefined);
}

export type { CompiledChain };
