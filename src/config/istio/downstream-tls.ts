import type { CommonTlsContext, DownstreamTlsContext, DownstreamTransportSocket, StringMatch } from '../snapshot.js';
import { credentialCaSecretName, credentialSecretName, fileCertSecretName, fileRootSecretName, ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } from '../secret-names.js';
import type { ServerTlsSpec } from './resources.js';
import { MESH_TLS_PARAMS, type SecretSet } from './upstream-tls.js';

/**
 * istiod's DownstreamTlsContexts (pilot's authn and gateway builders): mesh mTLS with `default` and
 * `ROOTCA`, a client certificate of the trust domain required; a server's own certificate
 * (Gateway, Sidecar ingress tls) by its credentialName or files, the PEM into the secrets.
 */

/** istiod's ALPN on inbound mTLS: HTTP chains (ALPNDownstream), TCP chains with metadata exchange (ALPNDownstreamWithMxc). */
export const MESH_DOWNSTREAM_ALPN_HTTP = ['h2', 'http/1.1'];
export const MESH_DOWNSTREAM_ALPN_TCP = ['istio-peer-exchange', 'h2', 'http/1.1'];

/** What an HTTPS server offers when its config says nothing. */
const HTTPS_ALPN = ['h2', 'http/1.1'];

export function downstreamTlsSocket(typedConfig: DownstreamTlsContext): DownstreamTransportSocket {
  return { name: 'envoy.transport_sockets.tls', typedConfig };
}

/** The mesh certificate with the mesh roots: the workload's identity presented, the peer's required. */
function meshCommon(alpn: readonly string[], sans: StringMatch[]): CommonTlsContext {
  return {
    tlsParams: MESH_TLS_PARAMS,
    ...(alpn.length ? { alpnProtocols: [...alpn] } : {}),
    tlsCertificateSdsSecretConfigs: [{ name: WORKLOAD_CERT_SECRET }],
    combinedValidationContext: {
      defaultValidationContext: sans.length ? { matchSubjectAltNames: sans } : {},
      validationContextSdsSecretConfig: { name: ROOT_CA_SECRET },
    },
  };
}

/** Inbound mesh mTLS (PeerAuthentication PERMISSIVE/STRICT): peers of this trust domain only. */
export function meshDownstreamTls(trustDomain: string, alpn: readonly string[]): DownstreamTransportSocket {
  return downstreamTlsSocket({ commonTlsContext: meshCommon(alpn, [{ prefix: `spiffe://${trustDomain}/` }]), requireClientCertificate: true });
}

/** A Gateway server's ISTIO_MUTUAL: the workload certificate, any mesh client certificate. */
export function gatewayMeshTls(alpn: readonly string[]): DownstreamTransportSocket {
  return downstreamTlsSocket({ commonTlsContext: meshCommon(alpn, []), requireClientCertificate: true });
}

/**
 * A server's own certificate (Istio ServerTLSSettings SIMPLE, MUTUAL, OPTIONAL_MUTUAL), by
 * credentialName (`kubernetes://<name>`, CA `kubernetes://<name>-cacert`) or files (`file-cert:`,
 * `file-root:`); client certificates are checked against the CA when mutual, required unless optional.
 * `alpn` absent: h2 and http/1.1 (an HTTPS server); [] offers none (a TLS server carrying TCP).
 */
export function serverTlsContext(tls: ServerTlsSpec, secrets: SecretSet, alpn: readonly string[] = HTTPS_ALPN): DownstreamTransportSocket {
  const cred = tls.credentialName;
  const certName = cred ? credentialSecretName(cred) : fileCertSecretName(tls.certFile ?? '', tls.keyFile ?? '');
  if (tls.certPem && tls.keyPem) secrets.add({ name: certName, tlsCertificate: { certificateChain: tls.certPem, privateKey: tls.keyPem } });
  const common: CommonTlsContext = {
    ...(tls.minProtocolVersion === 'TLSv1_3' ? { tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_3' as const } } : {}),
    ...(alpn.length ? { alpnProtocols: [...alpn] } : {}),
    tlsCertificateSdsSecretConfigs: [{ name: certName }],
  };
  const mutual = tls.mode === 'MUTUAL' || tls.mode === 'OPTIONAL_MUTUAL';
  if (mutual) {
    const caName = cred ? credentialCaSecretName(cred) : fileRootSecretName(tls.caFile ?? '');
    if (tls.caPem) secrets.add({ name: caName, validationContext: { trustedCa: tls.caPem } });
    common.combinedValidationContext = { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: caName } };
  }
  return downstreamTlsSocket({ commonTlsContext: common, ...(tls.mode === 'MUTUAL' ? { requireClientCertificate: true } : {}) });
}
