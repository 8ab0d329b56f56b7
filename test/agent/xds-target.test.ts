import { describe, expect, it } from 'vitest';
import { xdsTarget } from '../../src/agent/xds-target.js';

describe('the control plane target of a bootstrap cluster', () => {
  it('a pipe, or an address with the TLS of its UpstreamTlsContext (files or inline, SNI)', () => {
    expect(xdsTarget({ kind: 'pipe', path: '/var/run/XDS', clusterName: 'xds-grpc' })).toEqual({ kind: 'unix', path: '/var/run/XDS' });
    expect(xdsTarget({ kind: 'socket', host: 'istiod.istio-system.svc', port: 15012, clusterName: 'xds-grpc' })).toEqual({ kind: 'tcp', host: 'istiod.istio-system.svc', port: 15012 });
    const tls = {
      sni: 'istiod.istio-system.svc',
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: '/etc/certs/cert-chain.pem' }, private_key: { inline_string: 'KEY' } }],
        combined_validation_context: { default_validation_context: { trusted_ca: { inline_bytes: Buffer.from('CA') } } },
      },
    };
    expect(xdsTarget({ kind: 'socket', host: '10.0.0.2', port: 15012, clusterName: 'xds-grpc', tls })).toEqual({
      kind: 'tcp',
      host: '10.0.0.2',
      port: 15012,
      tls: { ca: { pem: Buffer.from('CA') }, cert: { file: '/etc/certs/cert-chain.pem' }, key: { pem: 'KEY' }, serverName: 'istiod.istio-system.svc' },
    });
  });

  it('refuses certificates over SDS for the channel SDS itself would need', () => {
    const tls = { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }] } };
    expect(() => xdsTarget({ kind: 'socket', host: '10.0.0.2', port: 15012, clusterName: 'xds-grpc', tls })).toThrow(
      'Cluster xds-grpc, field transport_socket.typed_config.common_tls_context: the control plane channel cannot take its certificates over SDS',
    );
  });
});
