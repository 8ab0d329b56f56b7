import type { CommonTlsContext, Secret, StringMatch, TransportSocketMatch, UpstreamTlsContext, UpstreamTransportSocket } from '../snapshot.js';
import { credentialCaSecretName, credentialSecretName, fileCertSecretName, fileRootSecretName, ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } from '../secret-names.js';
import type { ClientTlsSpec } from './resources.js';

/**
 * istiod's upstream TLS (pilot's cluster_tls.go): mesh mTLS (ISTIO_MUTUAL, auto mTLS) with the SDS
 * secrets `default` and `ROOTCA`, and DestinationRule SIMPLE/MUTUAL with the secrets of its
 * credentialName (`kubernetes://<name>`, `kubernetes://<name>-cacert`) or files (`file-cert:`,
 * `file-root:`). The PEM behind each name goes into the Snapshot's secrets.
 */

/** istiod's ALPN on mesh mTLS clusters (ALPNInMeshWithMxc); HTTP streams override it (Istio's istio.alpn filter). */
export const MESH_UPSTREAM_ALPN = ['istio-peer-exchange', 'istio'];

/** istiod's mesh TLS versions. */
export const MESH_TLS_PARAMS = { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' } as const;

/** The secrets a translation names, each once by name. */
export class SecretSet {
  private readonly byName = new Map<string, Secret>();

  add(secret: Secret): string {
    this.byName.set(secret.name, secret);
    return secret.name;
  }

  get list(): Secret[] {
    return [...this.byName.values()];
  }
}

const exactSans = (sans: readonly string[]): StringMatch[] => sans.map((exact) => ({ exact }));

/** Mesh mTLS to a sidecar: the workload certificate, the peer's identity checked against the mesh roots. */
export function meshUpstreamTls(sans: readonly string[], sni: string): UpstreamTlsContext {
  return {
    commonTlsContext: {
      tlsParams: MESH_TLS_PARAMS,
      alpnProtocols: MESH_UPSTREAM_ALPN,
      tlsCertificateSdsSecretConfigs: [{ name: WORKLOAD_CERT_SECRET }],
      combinedValidationContext: {
        defaultValidationContext: sans.length ? { matchSubjectAltNames: exactSans(sans) } : {},
        validationContextSdsSecretConfig: { name: ROOT_CA_SECRET },
      },
    },
    sni,
  };
}

export function tlsTransportSocket(typedConfig: UpstreamTlsContext): UpstreamTransportSocket {
  return { name: 'envoy.transport_sockets.tls', typedConfig };
}

/** istiod's auto mTLS: endpoints labelled tlsMode istio get mesh mTLS, the rest plaintext. */
export function autoMtlsMatches(mesh: UpstreamTlsContext): TransportSocketMatch[] {
  return [
    { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transportSocket: tlsTransportSocket(mesh) },
    { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer' } },
  ];
}

/**
 * DestinationRule SIMPLE / MUTUAL: the rule's CA (else the system roots) and, MUTUAL, its client
 * certificate, by SDS name; insecureSkipVerify validates nothing. A credential that could not be
 * read is still named: its secret is missing, so handshakes fail until it arrives (as with SDS).
 */
export function destinationRuleTls(tls: ClientTlsSpec, secrets: SecretSet): UpstreamTlsContext {
  const common: CommonTlsContext = {};
  const cred = tls.credentialName;
  if (tls.mode === 'MUTUAL') {
    const name = cred ? credentialSecretName(cred) : fileCertSecretName(tls.certFile ?? '', tls.keyFile ?? '');
    if (tls.certPem && tls.keyPem) secrets.add({ name, tlsCertificate: { certificateChain: tls.certPem, privateKey: tls.keyPem } });
    common.tlsCertificateSdsSecretConfigs = [{ name }];
  }
  if (!tls.insecureSkipVerify) {
    const sans = tls.subjectAltNames.length ? { matchSubjectAltNames: exactSans(tls.subjectAltNames) } : {};
    const caName = cred ? credentialCaSecretName(cred) : tls.caFile ? fileRootSecretName(tls.caFile) : undefined;
    // a credential read without a CA verifies with the system roots; one not read at all waits for its CA
    const unread = cred && !tls.caPem && !tls.certPem;
    if (caName && (tls.caPem || unread)) {
      if (tls.caPem) secrets.add({ name: caName, validationContext: { trustedCa: tls.caPem } });
      common.combinedValidationContext = { defaultValidationContext: sans, validationContextSdsSecretConfig: { name: caName } };
    } else {
      common.validationContext = { ...sans, systemRootCerts: {} };
    }
  }
  return { commonTlsContext: common, ...(tls.sni ? { sni: tls.sni } : {}) };
}
