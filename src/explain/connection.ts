/**
 * The connection part of an explanation: which listener takes the request's connection (capture and
 * use_original_dst hand-off included), which filter chain it gets for what its first bytes show, and
 * the chain's transport socket. The same compiled pieces a worker uses: Runtime.listenerForAddress,
 * the listener's FilterChainMatcher and inspectors, chooseChain.
 */
import { isIP } from 'node:net';
import type { FilterChain } from '../config/snapshot.js';
import type { CompiledChain, Inspected } from '../listener/filter-chain-match.js';
import { chooseChain, inspects } from '../listener/inspectors.js';
import type { PeerIdentity } from '../security/peer.js';
import type { ChainRuntime, ListenerRuntime, Runtime } from '../worker/runtime.js';
import type { ExplainRequest } from './request.js';

export interface ConnectionExplanation {
  /** The listener that takes the connection (after a hand-off). */
  readonly listener: string;
  /** The listener that accepted it and handed it off (use_original_dst), if another. */
  readonly acceptedBy?: string;
  /** Where the connection goes, and how explain knows. */
  readonly destination: { readonly address: string; readonly port: number; readonly source: string };
  /** The filter chain chosen ('' for one without a name), absent when none matches. */
  readonly chain?: string;
  /** The chain's match as configured, in words. */
  readonly chainMatch?: string;
  /** What inspection saw, when the chains differ by it. */
  readonly inspected?: string;
  readonly tls: boolean;
  readonly notes: readonly string[];
}

/** A connection that reached a filter chain. */
export interface ChainChoice {
  readonly listener: ListenerRuntime;
  readonly chain: ChainRuntime;
  readonly config: FilterChain;
  /** The restored original destination (capture), absent when the connection was made to the listener itself. */
  readonly originalDestination?: { address: string; port: number };
  readonly destination: { address: string; port: number };
  /** The mTLS peer, when TLS is terminated with the client's certificate. */
  readonly peer?: PeerIdentity;
  readonly secure: boolean;
}

export type ConnectionResult =
  | { readonly explanation: ConnectionExplanation; readonly choice: ChainChoice }
  | { readonly explanation: ConnectionExplanation; readonly closed: string };

/** The listener, chain and transport a request's connection gets. */
export function explainConnection(rt: Runtime, req: ExplainRequest): ConnectionResult {
  const notes: string[] = [];
  const node = rt.snapshot.node;
  const entry = entryListener(rt, req);
  const target = destinationOf(rt, req);
  const base = { destination: target, tls: false, notes };
  if (!entry) {
    const where = req.direction === 'gateway' ? `port ${target.port}` : req.direction === 'outbound' ? 'the outbound capture listener (virtualOutbound)' : 'the inbound capture listener (virtualInbound)';
    return { explanation: { listener: '-', ...base }, closed: `no listener on ${where}: the connection is refused` };
  }
  let listener = entry;
  let originalDestination: { address: string; port: number } | undefined;
  if (entry.config.useOriginalDst) {
    originalDestination = { address: target.address, port: target.port };
    if (entry.config.handOffRestoredDestination) listener = rt.listenerForAddress(target.address, target.port) ?? entry;
  }
  const dst = { address: target.address, port: target.port };
  const candidates = listener.matcher.candidates(dst.address, dst.port);
  const enabled = listener.inspectors(dst.port);
  const seen = inspectedOf(req, dst.port);
  const inspected = inspects(candidates, enabled) ? describeInspected(seen) : undefined;
  const matched: CompiledChain<ChainRuntime> | undefined = chooseChain(candidates, enabled, seen);
  const chain = matched?.value ?? listener.defaultChain;
  const config = matched?.chain ?? listener.config.defaultFilterChain;
  const head = {
    listener: listener.config.name,
    ...(listener !== entry ? { acceptedBy: entry.config.name } : {}),
    ...base,
    ...(inspected ? { inspected } : {}),
  };
  if (!chain || !config) {
    return { explanation: head, closed: `no filter chain of ${listener.config.name} matches and it has no default chain: the connection is closed (no_filter_chain_match)` };
  }
  const chainMatch = matched ? describeChainMatch(matched.chain) : 'the default chain (no other chain matched)';
  const explanation = { ...head, chain: chain.name, chainMatch, tls: !!chain.tls };
  if (chain.tls) {
    const requires = chain.tls.requireClientCertificate === true;
    if (requires && !req.sourcePrincipal) {
      return { explanation, closed: 'the chain terminates mutual TLS and the client presents no certificate: the handshake fails (give --source-principal for a mesh client)' };
    }
    notes.push(`TLS terminated${req.sourcePrincipal ? `, client certificate ${req.sourcePrincipal}${requires ? ' (required)' : ''}` : ''}`);
  } else if (req.sourcePrincipal && seen.transportProtocol === 'tls') {
    notes.push('the chain does not terminate TLS: the client certificate is never read');
  }
  if (node.ip && req.direction !== 'outbound' && dst.address !== node.ip && !req.destination) notes.push(`destination address ${dst.address}`);
  const peer = chain.tls && req.sourcePrincipal ? peerOf(req.sourcePrincipal, seen.serverName) : undefined;
  return {
    explanation,
    choice: { listener, chain, config, destination: dst, ...(originalDestination ? { originalDestination } : {}), ...(peer ? { peer } : {}), secure: !!chain.tls },
  };
}

/** The listener that accepts the connection: the capture listeners of a sidecar, a gateway's port. */
function entryListener(rt: Runtime, req: ExplainRequest): ListenerRuntime | undefined {
  const all = [...rt.listeners.values()];
  if (req.direction === 'outbound') return rt.listeners.get('virtualOutbound') ?? all.find((l) => l.config.useOriginalDst && l.config.direction === 'OUTBOUND');
  if (req.direction === 'inbound') return rt.listeners.get('virtualInbound') ?? all.find((l) => l.config.useOriginalDst && l.config.direction === 'INBOUND');
  const dst = destinationOf(rt, req);
  const l = rt.listenerForAddress(dst.address, dst.port);
  return l && l.config.bindToPort !== false ? l : undefined;
}

/**
 * Where the client connects. Outbound: the service's address, as the routes list it among a virtual
 * host's domains (istiod puts the service VIP there), else the URL's host when it is an address;
 * inbound: this workload's address at the URL's port; a gateway: its own address.
 */
function destinationOf(rt: Runtime, req: ExplainRequest): { address: string; port: number; source: string } {
  if (req.destination) return { ...req.destination, source: '--destination' };
  const ip = rt.snapshot.node.ip || '0.0.0.0';
  if (req.direction !== 'outbound') return { address: ip, port: req.port, source: req.direction === 'inbound' ? "this workload's address" : "the gateway's address" };
  if (isIP(req.host)) return { address: req.host, port: req.port, source: 'the URL' };
  const vip = serviceAddress(rt, req.host, req.port);
  if (vip) return { address: vip, port: req.port, source: `the service address of ${req.host} in the routes` };
  return { address: '0.0.0.0', port: req.port, source: `no address known for ${req.host}: chains matched by port only` };
}

/** An IP among the domains of a virtual host that serves `host` (or `host:port`). */
function serviceAddress(rt: Runtime, host: string, port: number): string | undefined {
  const names = new Set([host.toLowerCase(), `${host.toLowerCase()}:${port}`]);
  for (const rc of rt.snapshot.routeConfigs) {
    for (const vh of rc.virtualHosts) {
      if (!vh.domains.some((d) => names.has(d))) continue;
      for (const d of vh.domains) {
        const bare = d.endsWith(`:${port}`) ? d.slice(0, -`:${port}`.length) : d;
        if (isIP(bare.replace(/^\[|\]$/g, ''))) return bare.replace(/^\[|\]$/g, '');
      }
    }
  }
  return undefined;
}

/**
 * What tls_inspector / http_inspector would read: a mesh client's mTLS (Istio's ALPN and its
 * outbound SNI) with a source principal, TLS with SNI and ALPN for https, else plaintext HTTP.
 */
function inspectedOf(req: ExplainRequest, port: number): Inspected {
  const h2 = req.protocol === 'HTTP/2';
  if (req.sourcePrincipal && req.direction === 'inbound') {
    return { transportProtocol: 'tls', serverName: `outbound_.${port}_._.${req.host}`, applicationProtocols: [h2 ? 'istio-h2' : 'istio-http/1.1', 'istio'] };
  }
  if (req.scheme === 'https') return { transportProtocol: 'tls', serverName: req.host, applicationProtocols: h2 ? ['h2', 'http/1.1'] : ['http/1.1'] };
  return { transportProtocol: 'raw_buffer', applicationProtocols: [h2 ? 'h2c' : 'http/1.1'] };
}

function describeInspected(seen: Inspected): string {
  const parts = [seen.transportProtocol === 'tls' ? 'TLS' : 'plaintext'];
  if (seen.serverName) parts.push(`SNI ${seen.serverName}`);
  if (seen.applicationProtocols.length) parts.push(`${seen.transportProtocol === 'tls' ? 'ALPN' : 'protocol'} ${seen.applicationProtocols.join(',')}`);
  return parts.join(', ');
}

/** A filter chain's match in words. */
export function describeChainMatch(c: FilterChain): string {
  const m = c.match;
  const parts: string[] = [];
  if (m.destinationPort !== undefined) parts.push(`port ${m.destinationPort}`);
  if (m.prefixRanges?.length) parts.push(`address ${m.prefixRanges.join(',')}`);
  if (m.serverNames?.length) parts.push(`SNI ${m.serverNames.join(',')}`);
  if (m.transportProtocol) parts.push(`transport ${m.transportProtocol}`);
  if (m.applicationProtocols?.length) parts.push(`ALPN ${m.applicationProtocols.join(',')}`);
  return parts.length ? parts.join(', ') : 'any connection';
}

function peerOf(spiffeId: string, sni: string | undefined): PeerIdentity {
  return { spiffeId, principal: spiffeId.slice('spiffe://'.length), uris: [spiffeId], dns: [], subject: '', sha256: '', ...(sni ? { sni } : {}) };
}
