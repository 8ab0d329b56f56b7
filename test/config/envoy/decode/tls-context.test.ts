// istiod's TLS contexts, as real sidecars' config dumps hold them, decoded into the Snapshot's; what
// would change who is trusted and cannot be enforced is refused, naming the field.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { DecodeContext } from '../../../../src/config/envoy/decode/context.js';
import {
  decodeDownstreamTlsContext,
  decodeDownstreamTransportSocket,
  decodeUpstreamTransportSocket,
  type DownstreamTlsContextMessage,
  type TransportSocketMessage,
} from '../../../../src/config/envoy/decode/tls-context.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { messageType } from '../../../../src/config/envoy/proto/registry.js';
import type { NodeIdentity } from '../../../../src/config/snapshot.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CONFIG_DUMPS = path.resolve(here, '../../../../../shared/conformance/istio/config-dumps/istioctl/pkg');

const location = { location: {} };
const socket = (json: object) => fromProtoJson<TransportSocketMessage>(messageType('envoy.config.core.v3.TransportSocket'), json, location);
const downstream = (json: object) => fromProtoJson<DownstreamTlsContextMessage>(messageType('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext'), json, location);

/** A decode context that collects its warnings. */
export function collectingContext(): DecodeContext & { warnings: string[] } {
  const warnings: string[] = [];
  return { node: {} as NodeIdentity, warn: (m) => warnings.push(m), warnings };
}

const ref = { kind: 'Cluster', name: 'c' };
const SDS_GRPC = { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }], set_node_on_first_message_only: true, transport_api_version: 'V3' }, initial_fetch_timeout: '0s', resource_api_version: 'V3' };

/** Every object in a JSON tree whose `@type` ends with `suffix`. */
function findTyped(tree: unknown, suffix: string, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(tree)) for (const v of tree) findTyped(v, suffix, out);
  else if (tree && typeof tree === 'object') {
    const o = tree as Record<string, unknown>;
    if (typeof o['@type'] === 'string' && o['@type'].endsWith(suffix)) out.push(o);
    for (const v of Object.values(o)) findTyped(v, suffix, out);
  }
  return out;
}

describe('UpstreamTlsContext', () => {
  it('istiod\'s auto-mTLS context (config dump): SDS secrets from sds-grpc, SAN matchers, SNI, versions, ALPN as sent', () => {
    const dump = JSON.parse(readFileSync(path.join(CONFIG_DUMPS, 'describe/testdata/describe/http_config.json'), 'utf8'));
    const cluster = findTyped(dump, 'envoy.config.cluster.v3.Cluster')[0] as { transport_socket_matches: { transport_socket: object }[] };
    const ctx = collectingContext();
    const tls = decodeUpstreamTransportSocket(socket(cluster.transport_socket_matches[0]!.transport_socket), ref, 'transport_socket_matches[0].transport_socket', ctx);
    expect(tls).toEqual({
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        commonTlsContext: {
          tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
          alpnProtocols: ['istio-peer-exchange', 'istio'],
          tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: { grpcCluster: 'sds-grpc' } }],
          combinedValidationContext: {
            defaultValidationContext: { matchSubjectAltNames: [{ exact: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage' }, { exact: 'spiffe://cluster.local/ns/default/sa/default' }] },
            validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: { grpcCluster: 'sds-grpc' } },
          },
        },
        sni: 'outbound_.9080_.v1_.productpage.default.svc.cluster.local',
      },
    });
    expect(ctx.warnings).toEqual([]);
    expect(decodeUpstreamTransportSocket(socket(cluster.transport_socket_matches[1]!.transport_socket), ref, 't', ctx)).toEqual({ name: 'envoy.transport_sockets.raw_buffer' });
  });

  it('a gateway credential over ADS, typed SAN matchers, the system roots, cipher suites and curves', () => {
    const ctx = collectingContext();
    const tls = decodeUpstreamTransportSocket(socket({
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: {
          tls_params: { cipher_suites: ['[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]', 'ECDHE-RSA-AES256-GCM-SHA384'], ecdh_curves: ['X25519', 'P-256'] },
          tls_certificate_sds_secret_configs: [{ name: 'kubernetes://client-cred', sds_config: { ads: {}, resource_api_version: 'V3' } }],
          validation_context: { system_root_certs: {}, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'api.example.com' } }] },
        },
        sni: 'api.example.com',
      },
    }), ref, 'transport_socket', ctx);
    expect(tls).toEqual({
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        commonTlsContext: {
          tlsParams: { cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-AES256-GCM-SHA384'], ecdhCurves: ['X25519', 'P-256'] },
          tlsCertificateSdsSecretConfigs: [{ name: 'kubernetes://client-cred', sdsConfig: { ads: true } }],
          validationContext: { matchTypedSubjectAltNames: [{ sanType: 'DNS', matcher: { exact: 'api.example.com' } }], systemRootCerts: {} },
        },
        sni: 'api.example.com',
      },
    });
  });

  it('a validation context naming no CA verifies nothing (as in Envoy): no validation in the Snapshot', () => {
    const tls = decodeUpstreamTransportSocket(socket({ name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: { validation_context: {} } } }), ref, 't', collectingContext());
    expect(tls).toEqual({ name: 'envoy.transport_sockets.tls', typedConfig: { commonTlsContext: {} } });
  });
});

describe('DownstreamTlsContext', () => {
  const authzDump = parseYaml(readFileSync(path.join(CONFIG_DUMPS, 'authz/testdata/configdump.yaml'), 'utf8')) as unknown;

  it('every DownstreamTlsContext of a sidecar\'s listeners (config dump) decodes, without warnings', () => {
    const found = findTyped(authzDump, 'tls.v3.DownstreamTlsContext');
    expect(found.length).toBe(4);
    for (const json of found) {
      const ctx = collectingContext();
      const { '@type': _, ...body } = json;
      const tls = decodeDownstreamTlsContext(downstream(body), { kind: 'Listener', name: 'virtualInbound' }, 'x', ctx);
      expect(tls.commonTlsContext.tlsCertificateSdsSecretConfigs).toEqual([{ name: 'default', sdsConfig: { grpcCluster: 'sds-grpc' } }]);
      expect(ctx.warnings).toEqual([]);
    }
  });

  it('istiod\'s inbound mTLS: mesh peers required, TLS 1.2 ciphers kept in order', () => {
    const json = findTyped(authzDump, 'tls.v3.DownstreamTlsContext').find((j) => JSON.stringify(j).includes('istio-peer-exchange'))!;
    const tls = decodeDownstreamTransportSocket(socket({ name: 'envoy.transport_sockets.tls', typed_config: json }), { kind: 'Listener', name: 'virtualInbound' }, 'filter_chains[3].transport_socket', collectingContext());
    expect(tls).toEqual({
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        commonTlsContext: {
          tlsParams: {
            tlsMinimumProtocolVersion: 'TLSv1_2',
            tlsMaximumProtocolVersion: 'TLSv1_3',
            cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-GCM-SHA256'],
          },
          alpnProtocols: ['istio-peer-exchange', 'h2', 'http/1.1'],
          tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: { grpcCluster: 'sds-grpc' } }],
          combinedValidationContext: {
            defaultValidationContext: { matchSubjectAltNames: [{ prefix: 'spiffe://cluster.local/' }] },
            validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: { grpcCluster: 'sds-grpc' } },
          },
        },
        requireClientCertificate: true,
      },
    });
    expect(decodeDownstreamTransportSocket(socket({ name: 'envoy.transport_sockets.raw_buffer' }), ref, 't', collectingContext())).toBeUndefined();
  });

  it('a CA by SDS alone is a combined context with no SAN matcher; a static (bootstrap) secret has no source', () => {
    const tls = decodeDownstreamTlsContext(downstream({
      common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'kubernetes://gw' }], validation_context_sds_secret_config: { name: 'kubernetes://gw-cacert', sds_config: { ads: {} } } },
      require_client_certificate: true,
    }), ref, 'x', collectingContext());
    expect(tls).toEqual({
      commonTlsContext: {
        tlsCertificateSdsSecretConfigs: [{ name: 'kubernetes://gw' }],
        combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'kubernetes://gw-cacert', sdsConfig: { ads: true } } },
      },
      requireClientCertificate: true,
    });
  });

  it('resumption knobs and ACCEPT_UNTRUSTED are warned about (nothing trusted more), and TLS 1.0 minimum raised', () => {
    const ctx = collectingContext();
    decodeDownstreamTlsContext(downstream({
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_0' },
        tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: SDS_GRPC }],
        combined_validation_context: { default_validation_context: { trust_chain_verification: 'ACCEPT_UNTRUSTED' }, validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: SDS_GRPC } },
      },
      session_timeout: '300s',
      disable_stateless_session_resumption: true,
    }), { kind: 'Listener', name: 'l' }, 'fc', ctx);
    expect(ctx.warnings).toEqual([
      'Listener l: fc.session_timeout is not applied (TLS session resumption is left to Node)',
      'Listener l: fc.disable_stateless_session_resumption is not applied (TLS session resumption is left to Node)',
      'Listener l: fc.common_tls_context.tls_params.tls_minimum_protocol_version TLSv1_0 is raised to TLSv1_2 (Outrigger\'s floor)',
      'Listener l: fc.common_tls_context.combined_validation_context.default_validation_context.trust_chain_verification ACCEPT_UNTRUSTED is not applied: the chain is verified',
    ]);
  });
});

describe('refused (fail closed): trust Outrigger cannot enforce', () => {
  const ROOT = { name: 'ROOTCA', sds_config: SDS_GRPC };
  const withValidation = (v: object) => ({ common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }], combined_validation_context: { default_validation_context: v, validation_context_sds_secret_config: ROOT } } });
  const cases: [string, object, string][] = [
    ['inline certificate', { common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: 'x' } }] } }, 'field x.common_tls_context.tls_certificates: inline or file certificates'],
    ['inline CA', { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }], validation_context: { trusted_ca: { filename: '/etc/ca.pem' } } } }, 'common_tls_context.validation_context.trusted_ca: an inline or file CA'],
    ['CRL', withValidation({ crl: { inline_string: 'x' } }), 'default_validation_context.crl: certificate revocation lists'],
    ['SPKI pinning', withValidation({ verify_certificate_spki: ['NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A='] }), 'verify_certificate_spki: certificate pinning'],
    ['hash pinning', withValidation({ verify_certificate_hash: ['df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1a'] }), 'verify_certificate_hash'],
    ['expired allowed', withValidation({ allow_expired_certificate: true }), 'allow_expired_certificate: expired certificates'],
    ['custom validator', withValidation({ custom_validator_config: { name: 'envoy.tls.cert_validator.spiffe' } }), 'custom_validator_config'],
    ['max depth', withValidation({ max_verify_depth: 2 }), 'max_verify_depth'],
    ['OTHER_NAME SAN', withValidation({ match_typed_subject_alt_names: [{ san_type: 'OTHER_NAME', oid: '1.3.6.1.4.1.311.20.2.3', matcher: { exact: 'a' } }] }), 'match_typed_subject_alt_names[0].san_type: SAN type OTHER_NAME'],
    ['client cert required, nothing validates it', { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }] }, require_client_certificate: true }, 'require_client_certificate: a client certificate is required'],
    ['SANs without a CA', { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }], validation_context: { match_subject_alt_names: [{ exact: 'a' }] } } }, 'SAN matching without a trusted CA'],
    ['require_sni', { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }] }, require_sni: true }, 'require_sni'],
    ['no certificate', { common_tls_context: {} }, 'needs a certificate'],
    ['unknown cipher', { common_tls_context: { tls_params: { cipher_suites: ['NOT-A-CIPHER'] }, tls_certificate_sds_secret_configs: [{ name: 'default' }] } }, 'tls_params.cipher_suites[0]: unknown cipher suite NOT-A-CIPHER'],
    ['unknown curve', { common_tls_context: { tls_params: { ecdh_curves: ['P-999'] }, tls_certificate_sds_secret_configs: [{ name: 'default' }] } }, 'ecdh_curves[0]: unknown ECDH curve'],
    ['max TLS 1.1', { common_tls_context: { tls_params: { tls_maximum_protocol_version: 'TLSv1_1' }, tls_certificate_sds_secret_configs: [{ name: 'default' }] } }, 'TLS 1.2 and 1.3 only'],
    ['file-based SDS', { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { path_config_source: { path: '/etc/sds.yaml' } } }] } }, 'path_config_source: file-based xDS'],
    ['Google gRPC SDS', { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { api_config_source: { api_type: 'GRPC', grpc_services: [{ google_grpc: { target_uri: 'x', stat_prefix: 's' } }] } } }] } }, 'only envoy_grpc'],
  ];
  for (const [what, json, error] of cases) {
    it(what, () => {
      expect(() => decodeDownstreamTlsContext(downstream(json), { kind: 'Listener', name: 'l' }, 'x', collectingContext())).toThrow(error);
    });
  }

  it('a transport socket other than TLS or raw_buffer (istiod\'s internal_upstream for waypoints), or the wrong TLS side', () => {
    const internal = socket({
      name: 'internal_upstream',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport', transport_socket: { name: 'raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } },
    });
    expect(() => decodeUpstreamTransportSocket(internal, ref, 'transport_socket', collectingContext())).toThrow('Cluster c, field transport_socket.typed_config: transport socket internal_upstream (type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport) is not supported');
    const upstreamTls = socket({ name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext' } });
    expect(() => decodeDownstreamTransportSocket(upstreamTls, ref, 't', collectingContext())).toThrow(/UpstreamTlsContext\) is not supported here/);
    expect(() => decodeUpstreamTransportSocket(socket({ name: 'envoy.transport_sockets.tap' }), ref, 't', collectingContext())).toThrow('transport socket envoy.transport_sockets.tap is not supported');
  });
});
