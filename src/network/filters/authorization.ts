import type { NetworkExtAuthz } from '../../config/envoy/ext-authz.js';
import { NETWORK_EXT_AUTHZ_FILTER, NETWORK_RBAC_FILTER, type TcpAuthzFilter } from '../../config/envoy/rbac.js';
import { compileAuthzFilters, describePolicyEvaluations, type AuthzEngine, type AuthzRequest } from '../../security/authz/rbac.js';
import { compileNetworkExtAuthz, type ExtAuthzService } from '../../security/ext-authz/service.js';
import { checkConnection } from '../../tcp/ext-authz.js';
import type { NetworkConnection, NetworkFilter, NetworkFilterCallbacks, NetworkFilterFactory, NetworkFilterFactoryContext, NetworkFilterStatus } from '../filter.js';

/** A run of network RBAC and ext_authz filters, compiled together. */
export interface NetworkAuthorization {
  readonly engine: AuthzEngine;
  /** The run's ext_authz filters, by their config object (what the engine's decision names). */
  readonly services: ReadonlyMap<NetworkExtAuthz, ExtAuthzService>;
}

/**
 * envoy.filters.network.rbac and envoy.filters.network.ext_authz (Istio AuthorizationPolicy on TCP;
 * CUSTOM with a gRPC provider). Istio chains them through dynamic metadata: the RBAC filter's shadow
 * rules record which CUSTOM policy matched, and the ext_authz filter after it runs only then. So a
 * run of them compiles as one engine and runs as one filter (registry.ts groups the run), like the
 * HTTP filters do. A denied connection is closed (listener stat rbac.denied); a CUSTOM match stops
 * the chain until the Check answers: OK continues, a denial closes (tcp/ext-authz.ts).
 */
export const networkAuthorizationFilter: NetworkFilterFactory<readonly TcpAuthzFilter[], NetworkAuthorization> = {
  name: NETWORK_RBAC_FILTER,
  terminal: false,
  parse: (filters) => compileNetworkAuthorization(filters),
  create(authz, context) {
    return (callbacks) => new NetworkAuthorizationFilter(authz, context, callbacks);
  },
};

/** What authorization reads of a connection: its two ends and its mTLS peer. */
function connectionAuthzRequest(c: Pick<NetworkConnection, 'sourceAddress' | 'destination' | 'peer'>): AuthzRequest {
  return {
    sourceIp: c.sourceAddress,
    remoteIp: c.sourceAddress,
    destinationIp: c.destination.address,
    destinationPort: c.destination.port,
    ...(c.peer?.sni ? { sni: c.peer.sni } : {}),
    ...(c.peer?.spiffeId ? { peerPrincipal: c.peer.spiffeId } : {}),
  };
}

/** `outrigger explain`: every policy of the run evaluated, and the decision the filter would take. */
export function explainNetworkAuthorization(authz: NetworkAuthorization, c: Pick<NetworkConnection, 'sourceAddress' | 'destination' | 'peer'>): {
  notes: string[];
  denied?: string;
  decidedElsewhere?: string;
} {
  const r = connectionAuthzRequest(c);
  const notes = describePolicyEvaluations(authz.engine.explain(r));
  const d = authz.engine.check(r);
  if (!d.allowed) return { notes, denied: d.matchedPolicy ?? 'no ALLOW policy matched' };
  if (d.extAuthz) return { notes, decidedElsewhere: `ext_authz (${d.extAuthz.policy})` };
  notes.push(d.matchedPolicy ? `allowed by ${d.matchedPolicy}` : 'allowed');
  return { notes };
}

/** A run of network RBAC and ext_authz filters compiled into one engine. */
export function compileNetworkAuthorization(filters: readonly TcpAuthzFilter[]): NetworkAuthorization {
  const services = new Map<NetworkExtAuthz, ExtAuthzService>();
  for (const f of filters) if (f.name === NETWORK_EXT_AUTHZ_FILTER) services.set(f.typedConfig, compileNetworkExtAuthz(f.typedConfig));
  return { engine: compileAuthzFilters(filters), services };
}

class NetworkAuthorizationFilter implements NetworkFilter {
  constructor(
    private readonly authz: NetworkAuthorization,
    private readonly context: NetworkFilterFactoryContext,
    private readonly callbacks: NetworkFilterCallbacks,
  ) {}

  onNewConnection(): NetworkFilterStatus {
    const c = this.callbacks.connection;
    const decision = this.authz.engine.check(connectionAuthzRequest(c));
    if (!decision.allowed) {
      c.stats.rbacDenied++;
      this.callbacks.close();
      return 'stop';
    }
    if (!decision.extAuthz) return 'continue';
    this.check(this.authz.services.get(decision.extAuthz.config as NetworkExtAuthz)!);
    return 'stop';
  }

  /** The connection's two ends to the provider; the client's bytes wait in the unread socket meanwhile. */
  private check(service: ExtAuthzService): void {
    const c = this.callbacks.connection;
    const rt = this.context.runtime;
    const target = {
      service,
      host: rt.clusters.get(service.cluster)?.pick()?.endpoint,
      destination: c.destination,
      peer: c.peer,
      localPrincipal: rt.services.tls?.workloadIdentity,
    };
    const untrack = this.callbacks.owner.track({ destroy: () => c.socket.destroy() }, c.listenerName);
    const stats = rt.services.stats.networkExtAuthzStats(service.statPrefix ?? '');
    void checkConnection(c.socket, target, stats, () => this.callbacks.continueReading()).then(untrack);
  }
}
