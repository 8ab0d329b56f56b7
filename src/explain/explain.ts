/**
 * `outrigger explain` and the admin's /explain: what the proxy would do with one request, told
 * without sending it, from a Runtime compiled like a worker's (the same listeners, chain matchers,
 * route tables, filter configs and cluster runtimes). Nothing is counted or sent: a filter's explain
 * reads its compiled config, a cluster is asked for the host it would pick.
 *
 * The walk follows a connection and its request in a worker's order: listener (capture, hand-off),
 * filter chain and transport, network filters (authorization), then the terminal filter: the HTTP
 * connection manager (route, HTTP filters, router) or the TCP proxy.
 */
import { networkFilterRuns } from '../network/registry.js';
import { compileNetworkAuthorization, explainNetworkAuthorization } from '../network/filters/authorization.js';
import { HTTP_CONNECTION_MANAGER_FILTER, TCP_PROXY_FILTER, tcpProxyOf } from '../config/envoy/network-filters.js';
import { NETWORK_EXT_AUTHZ_FILTER, NETWORK_RBAC_FILTER, type TcpAuthzFilter } from '../config/envoy/rbac.js';
import type { Runtime } from '../worker/runtime.js';
import { explainCluster, type ClusterExplanation } from './cluster.js';
import { explainConnection, type ChainChoice, type ConnectionExplanation } from './connection.js';
import { explainHttp, type HttpExplanation } from './http.js';
import { OutcomeShares, type Outcome, type SharedOutcome } from './outcome.js';
import type { ExplainRequest } from './request.js';

export interface Explanation {
  readonly request: ExplainRequest;
  /** The config version explained. */
  readonly configVersion: string;
  readonly connection: ConnectionExplanation;
  /** The chain's network filters before the terminal one. */
  readonly networkFilters: readonly { readonly name: string; readonly notes: readonly string[] }[];
  readonly http?: HttpExplanation;
  readonly tcp?: { readonly statPrefix: string; readonly clusters: readonly ClusterExplanation[] };
  /** Every way the request ends, largest share first; the first is the answer for most requests. */
  readonly outcomes: readonly SharedOutcome[];
}

/** Explains `req` against the Runtime `rt` (built for explain: picks and connection state are its own). */
export async function explainRequest(rt: Runtime, req: ExplainRequest): Promise<Explanation> {
  const shares = new OutcomeShares();
  const conn = explainConnection(rt, req);
  const base = { request: req, configVersion: rt.snapshot.version, connection: conn.explanation };
  if ('closed' in conn) {
    shares.settle({ by: 'listener', summary: conn.closed });
    return { ...base, networkFilters: [], outcomes: shares.outcomes() };
  }
  const choice = conn.choice;
  const networkFilters: { name: string; notes: string[] }[] = [];
  for (const run of networkFilterRuns(choice.config.filters)) {
    if (run.name === NETWORK_RBAC_FILTER || run.name === NETWORK_EXT_AUTHZ_FILTER) {
      const e = explainNetworkAuthorization(compileNetworkAuthorization(run.typedConfig as readonly TcpAuthzFilter[]), {
        sourceAddress: req.sourceIp,
        destination: choice.destination,
        ...(choice.peer ? { peer: choice.peer } : {}),
      });
      networkFilters.push({ name: run.name, notes: e.notes });
      if (e.denied) shares.settle({ by: run.name, summary: `the connection is closed: network authorization denies it (${e.denied})` });
      else if (e.decidedElsewhere) shares.settle({ by: run.name, summary: `decided by ${e.decidedElsewhere}` });
      if (shares.done) return { ...base, networkFilters, outcomes: shares.outcomes() };
      continue;
    }
    if (run.name === HTTP_CONNECTION_MANAGER_FILTER && choice.chain.http) {
      const http = await explainHttp(rt, choice.chain.http, choice, req, shares);
      return { ...base, networkFilters, http, outcomes: shares.outcomes() };
    }
    if (run.name === TCP_PROXY_FILTER) return { ...base, networkFilters, tcp: explainTcpProxy(rt, choice, shares), outcomes: shares.outcomes() };
    networkFilters.push({ name: run.name, notes: ['runs; explain cannot tell what it does'] });
  }
  shares.settle({ by: 'listener', summary: 'the chain has no terminal filter explain knows' });
  return { ...base, networkFilters, outcomes: shares.outcomes() };
}

/** An HTTP request on a TCP proxy chain: its bytes go to the proxy's cluster as they are. */
function explainTcpProxy(rt: Runtime, choice: ChainChoice, shares: OutcomeShares): { statPrefix: string; clusters: ClusterExplanation[] } {
  const tcp = tcpProxyOf(choice.config)!;
  const total = tcp.clusters.reduce((s, c) => s + c.weight, 0) || 1;
  const parts: { percent: number; outcome: Outcome }[] = [];
  const clusters = tcp.clusters.map((wc) => {
    const runtime = rt.clusters.get(wc.name);
    const e = explainCluster(wc.name, wc.weight, runtime, runtime?.config.type === 'ORIGINAL_DST' ? choice.originalDestination ?? choice.destination : undefined, undefined);
    const percent = (wc.weight * 100) / total;
    const outcome: Outcome = !e.exists
      ? { by: TCP_PROXY_FILTER, summary: `cluster ${wc.name} not found: the connection is closed` }
      : !e.picked
        ? { flag: 'UH', by: TCP_PROXY_FILTER, summary: `no healthy host in ${wc.name}: the connection is closed (UH)` }
        : { by: TCP_PROXY_FILTER, cluster: wc.name, host: e.picked, summary: `bytes relayed to ${wc.name}, host ${e.picked} (TCP proxy: no HTTP routing)` };
    parts.push({ percent, outcome });
    return e;
  });
  shares.split(parts);
  return { statPrefix: tcp.statPrefix, clusters };
}
