/** TLS contexts as Envoy's extensions.transport_sockets.tls.v3 JSON: certificates and CAs by SDS secret name. */
import type { CertificateValidationContext, CommonTlsContext, SdsSecretConfig, UpstreamTlsContext } from '../../snapshot.js';
import { stringMatcher, type Json } from './values.js';

export function encodeCommonTlsContext(c: CommonTlsContext): Json {
  const p = c.tlsParams;
  return {
    ...(p
      ? {
          tls_params: {
            ...(p.tlsMinimumProtocolVersion ? { tls_minimum_protocol_version: p.tlsMinimumProtocolVersion } : {}),
            ...(p.tlsMaximumProtocolVersion ? { tls_maximum_protocol_version: p.tlsMaximumProtocolVersion } : {}),
            ...(p.cipherSuites ? { cipher_suites: p.cipherSuites } : {}),
            ...(p.ecdhCurves ? { ecdh_curves: p.ecdhCurves } : {}),
          },
        }
      : {}),
    ...(c.alpnProtocols?.length ? { alpn_protocols: c.alpnProtocols } : {}),
    ...(c.tlsCertificateSdsSecretConfigs?.length ? { tls_certificate_sds_secret_configs: c.tlsCertificateSdsSecretConfigs.map(sdsSecret) } : {}),
    ...(c.combinedValidationContext
      ? {
          combined_validation_context: {
            default_validation_context: validation(c.combinedValidationContext.defaultValidationContext),
            validation_context_sds_secret_config: sdsSecret(c.combinedValidationContext.validationContextSdsSecretConfig),
          },
        }
      : {}),
    ...(c.validationContext ? { validation_context: validation(c.validationContext) } : {}),
  };
}

export function encodeUpstreamTlsContext(t: UpstreamTlsContext): Json {
  return { common_tls_context: encodeCommonTlsContext(t.commonTlsContext), ...(t.sni ? { sni: t.sni } : {}) };
}

/** An SDS secret by name; the Istio front end's come from files, shown as pilot-agent's SDS server serves them. */
function sdsSecret(s: SdsSecretConfig): Json {
  const source = s.sdsConfig && 'ads' in s.sdsConfig
    ? { ads: {}, resource_api_version: 'V3' }
    : { api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: s.sdsConfig?.grpcCluster ?? 'sds-grpc' } }], set_node_on_first_message_only: true }, resource_api_version: 'V3' };
  return { name: s.name, sds_config: source };
}

function validation(v: CertificateValidationContext): Json {
  return {
    ...(v.matchSubjectAltNames?.length ? { match_subject_alt_names: v.matchSubjectAltNames.map(stringMatcher) } : {}),
    ...(v.matchTypedSubjectAltNames?.length ? { match_typed_subject_alt_names: v.matchTypedSubjectAltNames.map((m) => ({ san_type: m.sanType, matcher: stringMatcher(m.matcher) })) } : {}),
    ...(v.systemRootCerts ? { system_root_certs: {} } : {}),
  };
}
