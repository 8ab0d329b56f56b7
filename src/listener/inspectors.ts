import type { ListenerFilterScope, ListenerInspectors } from '../config/snapshot.js';
import { FilterChainMatcher, type CompiledChain, type Inspected } from './filter-chain-match.js';

/** Which inspecting listener filters run for a connection to one destination port. */
export interface EnabledInspectors {
  readonly tls: boolean;
  readonly http: boolean;
}

const BOTH: EnabledInspectors = Object.freeze({ tls: true, http: true });
const NONE: EnabledInspectors = Object.freeze({ tls: false, http: false });

/** What a connection looks like to a listener that inspects nothing: Envoy's default transport protocol. */
export const UNINSPECTED: Inspected = Object.freeze({ transportProtocol: 'raw_buffer', applicationProtocols: Object.freeze([]) as readonly string[] });

/**
 * Envoy's tls_inspector / http_inspector with their filter_disabled port ranges, compiled once per
 * listener: the inspectors on for a destination port. Absent config: both, everywhere.
 */
export function compileInspectors(config: ListenerInspectors | undefined): (port: number) => EnabledInspectors {
  if (!config) return () => BOTH;
  const tls = scopeTest(config.tls);
  const http = scopeTest(config.http);
  return (port) => {
    const t = tls(port);
    const h = http(port);
    return t && h ? BOTH : !t && !h ? NONE : { tls: t, http: h };
  };
}

function scopeTest(scope: ListenerFilterScope | undefined): (port: number) => boolean {
  if (!scope) return () => false;
  const ranges = scope.disabledPorts ?? [];
  if (!ranges.length) return () => true;
  return (port) => !ranges.some((r) => port >= r.start && port < r.end);
}

/**
 * What the enabled inspectors report of what was read: without tls_inspector the connection is
 * raw_buffer with no SNI or ALPN (even a ClientHello); without http_inspector no HTTP protocol
 * (http_inspector never looks at TLS: ALPN is the tls_inspector's).
 */
export function reportedBy(enabled: EnabledInspectors, seen: Inspected): Inspected {
  if (seen.transportProtocol === 'tls') return enabled.tls ? seen : UNINSPECTED;
  return enabled.http || seen.applicationProtocols.length === 0 ? seen : UNINSPECTED;
}

/** Inspection runs for a connection: its candidate chains differ by what the first bytes show, and an inspector is on. */
export function inspects<T>(candidates: readonly CompiledChain<T>[], enabled: EnabledInspectors): boolean {
  return FilterChainMatcher.needsInspection(candidates) && (enabled.tls || enabled.http);
}

/**
 * The chain a connection gets among its candidates: `seen` is what inspection read (when it ran),
 * as the enabled inspectors report it; without inspection, Envoy's defaults (raw_buffer, no ALPN).
 */
export function chooseChain<T>(candidates: readonly CompiledChain<T>[], enabled: EnabledInspectors, seen?: Inspected): CompiledChain<T> | undefined {
  if (!FilterChainMatcher.needsInspection(candidates)) return FilterChainMatcher.select(candidates, undefined);
  return FilterChainMatcher.select(candidates, seen && inspects(candidates, enabled) ? reportedBy(enabled, seen) : UNINSPECTED);
}
