import type { DownstreamTls } from '../snapshot.js';
import type { ServerTlsSpec } from './resources.js';

/**
 * Envoy's DownstreamTlsContext for a server's own certificates (Istio ServerTLSSettings SIMPLE,
 * MUTUAL, OPTIONAL_MUTUAL): the PEM read when the config was loaded, client certificates checked
 * against caCertificates when mutual.
 */
export function serverTlsContext(tls: ServerTlsSpec): DownstreamTls {
  return {
    mode: tls.mode === 'SIMPLE' ? 'simple' : 'mutual',
    certPem: tls.certPem!,
    keyPem: tls.keyPem!,
    ...(tls.caPem ? { caPem: tls.caPem } : {}),
    ...(tls.mode === 'OPTIONAL_MUTUAL' ? { optionalClientCert: true } : {}),
    ...(tls.minProtocolVersion === 'TLSv1_3' ? { minVersion: 'TLSv1.3' as const } : {}),
  };
}
