import type { NodeIdentity } from '../snapshot.js';
import type { CredentialNeeds, CredentialResult, CredentialSource } from '../secrets.js';
import { describeResource } from './parse.js';
import type { ClientTlsSpec, IstioConfig, PolicyLayer, ResourceMeta, ServerTlsSpec, TrafficPolicySpec } from './resources.js';
import { selectGateways } from './translate-gateway.js';
import { selectSidecar } from './translate.js';

const NO_STORE = 'credentialName needs --credential-dir (the directory of mounted secrets)';

/**
 * Fills the PEMs of every credentialName this proxy uses (the servers of the Gateways that select
 * it, DestinationRule tls) from --credential-dir. A credential that cannot be had is what Istio
 * does with a secret that never arrives over SDS: the Gateway server is skipped (a warning; the
 * proxy stays ready and serves its other servers), and a DestinationRule's TLS lacks it (a
 * warning; handshakes with the upstream fail). Each read validates the files; a broken rotation
 * keeps the last good copy (CredentialSource).
 */
export async function resolveCredentials(cfg: IstioConfig, node: NodeIdentity, store: CredentialSource | undefined): Promise<void> {
  const gateways = node.mode === 'gateway' ? selectGateways(cfg.gateways, node) : [];
  for (const gw of gateways) for (const server of gw.servers) await fillServerTls(cfg, gw.meta, server.tls, store);
  // Sidecar ingress tls: the credential terminates TLS for clients outside the mesh
  const sidecar = node.mode === 'sidecar' ? selectSidecar(cfg.sidecars, node) : undefined;
  for (const ing of sidecar?.ingress ?? []) await fillServerTls(cfg, sidecar!.meta, ing.tls, store);
  for (const dr of cfg.destinationRules) {
    for (const tls of clientTlsOf(dr.trafficPolicy, ...dr.subsets.map((s) => s.trafficPolicy))) {
      if (!tls.credentialName) continue;
      const needs: CredentialNeeds = { certificate: tls.mode === 'MUTUAL', ca: 'optional' };
      const r = await load(store, tls.credentialName, needs);
      if ('error' in r) {
        cfg.warnings.push(`${describeResource(dr.meta)}: tls credential "${tls.credentialName}" is not available (${r.error}); TLS to its upstreams fails until it is`);
        continue;
      }
      if (r.warning) cfg.warnings.push(`${describeResource(dr.meta)}: ${r.warning}`);
      Object.assign(tls, r.credential);
    }
  }
}

function load(store: CredentialSource | undefined, name: string, needs: CredentialNeeds): Promise<CredentialResult> {
  return store ? store.load(name, needs) : Promise.resolve({ error: NO_STORE });
}

/** A server's own certificate (Gateway server, Sidecar ingress) from its credential; missing: the server is marked unavailable. */
async function fillServerTls(cfg: IstioConfig, meta: ResourceMeta, tls: ServerTlsSpec | undefined, store: CredentialSource | undefined): Promise<void> {
  if (!tls?.credentialName || tls.unsupported) return;
  const r = await load(store, tls.credentialName, { certificate: true, ca: tls.mode === 'SIMPLE' ? 'optional' : 'required' });
  if ('error' in r) {
    tls.unsupported = `credential "${tls.credentialName}" is not available: ${r.error}`;
    return;
  }
  if (r.warning) cfg.warnings.push(`${describeResource(meta)}: ${r.warning}`);
  tls.certPem = r.credential.certPem!;
  tls.keyPem = r.credential.keyPem!;
  if (tls.mode !== 'SIMPLE' && r.credential.caPem) tls.caPem = r.credential.caPem;
}

/** The tls settings of policies and their port-level settings. */
function clientTlsOf(...policies: (TrafficPolicySpec | undefined)[]): ClientTlsSpec[] {
  const layers: PolicyLayer[] = policies.flatMap((p) => (p ? [p, ...p.portLevel] : []));
  return layers.flatMap((l) => (l.tls ? [l.tls] : []));
}
