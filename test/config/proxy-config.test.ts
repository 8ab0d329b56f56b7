// ProxyConfig (meshConfig.defaultConfig, PROXY_CONFIG): gatewayTopology becomes the gateway
// connection managers' xff_num_trusted_hops and forward_client_cert_details, as istiod builds them.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { mergeProxyConfig, parseProxyConfigText } from '../../src/config/istio/proxy-config.js';
import { translateIstio } from '../../src/config/istio/translate.js';
import { chainHcm, gatewayNode, hcmOf, listener, parseError, parseYaml, sidecarNode, translate, yaml } from './helpers.js';

const GATEWAY = yaml`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: ['*']
`;

const mesh = (defaultConfig: string) => yaml`
apiVersion: meshconfig.istio.io/v1alpha1
kind: MeshConfig
defaultConfig:
${defaultConfig}
`;

describe('meshConfig.defaultConfig.gatewayTopology', () => {
  it('numTrustedProxies → xff_num_trusted_hops on the gateway connection manager; forwardClientCertDetails replaces SANITIZE_SET', () => {
    const t = translate(`${GATEWAY}---\n${mesh('  gatewayTopology: { numTrustedProxies: 2, forwardClientCertDetails: APPEND_FORWARD }')}`, gatewayNode());
    const hcm = hcmOf(listener(t, '0.0.0.0_8080'));
    expect(hcm).toMatchObject({ useRemoteAddress: true, xffNumTrustedHops: 2, forwardClientCertDetails: 'APPEND_FORWARD' });
  });

  it('without it a gateway trusts no hop and keeps SANITIZE_SET; UNDEFINED is not a setting', () => {
    const plain = hcmOf(listener(translate(GATEWAY, gatewayNode()), '0.0.0.0_8080'));
    expect(plain.xffNumTrustedHops).toBeUndefined();
    expect(plain.forwardClientCertDetails).toBe('SANITIZE_SET');
    const undef = translate(`${GATEWAY}---\n${mesh('  gatewayTopology: { numTrustedProxies: "1", forwardClientCertDetails: UNDEFINED }')}`, gatewayNode());
    expect(hcmOf(listener(undef, '0.0.0.0_8080'))).toMatchObject({ xffNumTrustedHops: 1, forwardClientCertDetails: 'SANITIZE_SET' });
  });

  it('a sidecar ignores it (istiod applies it to gateways only): its inbound stays use_remote_address false, 0 hops', () => {
    const t = translate(
      yaml`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  ingress:
  - port: { number: 9080, protocol: HTTP, name: http }
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:8080
---
${mesh('  gatewayTopology: { numTrustedProxies: 2 }')}`,
      sidecarNode(),
    );
    const inbound = t.snapshot.listeners.flatMap((l) => l.filterChains).map((c) => chainHcm(c)).filter((h) => h && !h.useRemoteAddress);
    expect(inbound.length).toBeGreaterThan(0);
    for (const h of inbound) expect(h!.xffNumTrustedHops).toBeUndefined();
  });

  it('other ProxyConfig fields are reported as not applied, not refused', () => {
    const cfg = parseYaml(mesh('  discoveryAddress: istiod.istio-system.svc:15012\n  drainDuration: 45s\n  gatewayTopology: { numTrustedProxies: 1 }'));
    expect(cfg.mesh.defaultConfig).toEqual({ gatewayTopology: { numTrustedProxies: 1 } });
    expect(cfg.warnings.join('\n')).toMatch(/defaultConfig: proxy config fields discoveryAddress, drainDuration accepted but not applied/);
  });

  it('errors name the field: a negative count, an unknown value, an unknown field, the PROXY protocol', () => {
    expect(parseError(mesh('  gatewayTopology: { numTrustedProxies: -1 }')).message).toMatch(/field defaultConfig\.gatewayTopology\.numTrustedProxies: must be between 0 and 4294967295/);
    expect(parseError(mesh('  gatewayTopology: { forwardClientCertDetails: SET }')).message).toMatch(/field defaultConfig\.gatewayTopology\.forwardClientCertDetails: must be one of/);
    expect(parseError(mesh('  gatewayTopology: { numTrustedProxy: 1 }')).message).toMatch(/unknown field "numTrustedProxy"/);
    expect(parseError(mesh('  gatewayTopology: { proxyProtocol: {} }')).message).toMatch(/gatewayTopology\.proxyProtocol: the PROXY protocol is not supported/);
  });
});

describe("this proxy's ProxyConfig (PROXY_CONFIG / --proxy-config)", () => {
  it('YAML or JSON; merged over defaultConfig field by field, as istio-agent does', () => {
    const warnings: string[] = [];
    const own = parseProxyConfigText('{"gatewayTopology":{"numTrustedProxies":3},"proxyMetadata":{"A":"b"}}', 'PROXY_CONFIG', warnings);
    expect(own).toEqual({ gatewayTopology: { numTrustedProxies: 3 } });
    expect(warnings).toEqual(['PROXY_CONFIG: proxy config fields proxyMetadata accepted but not applied by the data plane']);
    // the overlay's gatewayTopology replaces the mesh's whole (its forwardClientCertDetails goes)
    expect(mergeProxyConfig({ gatewayTopology: { numTrustedProxies: 1, forwardClientCertDetails: 'FORWARD_ONLY' } }, own)).toEqual(own);
    expect(mergeProxyConfig({ gatewayTopology: { numTrustedProxies: 1 } }, parseProxyConfigText('concurrency: 2', 'PROXY_CONFIG', []))).toEqual({ gatewayTopology: { numTrustedProxies: 1 } });
  });

  it('applied at translation through the mesh settings, like the mesh default', () => {
    const cfg = parseYaml(GATEWAY);
    cfg.mesh = { ...cfg.mesh, defaultConfig: parseProxyConfigText('gatewayTopology:\n  numTrustedProxies: 1\n', '--proxy-config', []) };
    const t = translateIstio(cfg, gatewayNode(), { outboundPort: 15001 });
    expect(hcmOf(listener(t, '0.0.0.0_8080')).xffNumTrustedHops).toBe(1);
  });

  it('a bad value is a ConfigError naming its source and field', () => {
    const err = (text: string) => {
      try {
        parseProxyConfigText(text, 'PROXY_CONFIG', []);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).message;
      }
      return expect.fail('expected a ConfigError');
    };
    expect(err('gatewayTopology: { numTrustedProxies: two }')).toBe('ProxyConfig PROXY_CONFIG, field gatewayTopology.numTrustedProxies: expected an integer, got string "two"');
    expect(err('gatewayTopology: [')).toMatch(/^ProxyConfig PROXY_CONFIG: invalid ProxyConfig YAML\/JSON/);
    expect(err('- a list')).toMatch(/^ProxyConfig PROXY_CONFIG: expected an object, got a list/);
  });
});
