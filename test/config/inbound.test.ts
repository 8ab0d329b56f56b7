/**
 * Inbound translation (translate-inbound.ts): ports captured on virtualInbound (15006) and ports a
 * Sidecar ingress listener binds get their chains from one builder, so PeerAuthentication, Istio
 * ALPN, authorization, detection, the upstream protocol and the telemetry metadata are the same.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { translateIstio, type Translation } from '../../src/config/istio/translate.js';
import type { FilterChain, Listener } from '../../src/config/snapshot.js';
import { chainHcm, cluster, downstreamTls, hostsOf, listener, parseError, parseYaml, secretNames, sidecarNode, tcpAuthzOf, tcpProxyOf } from './helpers.js';

const CERTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/conformance/istio/samples/certs');

/** This workload (10.1.1.1) serves web:80 → 8080 (HTTP), grpc:9000 (GRPC), db:5432 (TCP) and raw:7000 (auto). */
const SERVICES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: default }
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - { number: 80, name: http, protocol: HTTP, targetPort: 8080 }
  - { number: 9000, name: grpc, protocol: GRPC }
  - { number: 5432, name: tcp-db, protocol: TCP }
  - { number: 7000, name: raw }
  endpoints: [{ address: 10.1.1.1, labels: { app: productpage } }]
`;

const PORTS: [number, string][] = [[8080, 'HTTP'], [9000, 'GRPC'], [5432, 'TCP'], [7000, '']];

/** A Sidecar whose ingress ports are captured (as they are) and bound (port + 10000, captureMode NONE). */
function ingressSidecar(extra = ''): string {
  const entry = (port: number, protocol: string, bound: boolean) =>
    `  - port: { number: ${bound ? port + 10000 : port}, name: p${port}${protocol ? `, protocol: ${protocol}` : ''} }` +
    (bound ? `\n    captureMode: NONE\n    defaultEndpoint: 127.0.0.1:${port}` : '');
  return `
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  ingress:
${PORTS.map(([p, proto]) => entry(p, proto, false)).join('\n')}
${PORTS.map(([p, proto]) => entry(p, proto, true)).join('\n')}
${extra}`;
}

function peerAuth(mode: string, ports: Record<number, string> = {}): string {
  const portLevel = Object.entries(ports).map(([p, m]) => `    ${p}: { mode: ${m} }`).join('\n');
  return `
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: web, namespace: default }
spec:
  selector: { matchLabels: { app: productpage } }
  mtls: { mode: ${mode} }
${portLevel ? `  portLevelMtls:\n${portLevel}\n` : ''}`;
}

const POLICIES = `
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-admin, namespace: default }
spec:
  action: DENY
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/admin/sa/*"] } }] }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: default }
spec:
  jwtRules: [{ issuer: "https://issuer.example", jwksUri: "https://issuer.example/jwks" }]
`;

function translateWith(text: string, mtls = true): Translation {
  const node = sidecarNode();
  return translateIstio(parseYaml(text, node.namespace), node, { outboundPort: 15001, inboundPort: 15006, mtls });
}

/** A port's chains without names and port numbers: what decides how a connection is served. */
function shape(chains: readonly FilterChain[]): unknown[] {
  return chains.map((c) => {
    const hcm = chainHcm(c);
    return {
      transport: c.match.transportProtocol,
      alpn: c.match.applicationProtocols,
      // mesh mTLS: the workload certificate
      tls: c.transportSocket && (secretNames(downstreamTls(c))[0] === 'default' ? 'istio' : 'own'),
      rbac: tcpAuthzOf(c).length,
      http: hcm ? { filters: hcm.httpFilters.map((f) => f.name), direction: hcm.forwardClientCertDetails } : undefined,
      tcp: tcpProxyOf(c)?.clusters.map((x) => x.name.replace(/\|\d+\|/, '|PORT|')),
    };
  });
}

function capturedChains(t: Translation, port: number): FilterChain[] {
  return listener(t, 'virtualInbound').filterChains.filter((c) => c.match.destinationPort === port);
}

describe('inbound: captured and bound ports are built alike', () => {
  for (const mode of ['STRICT', 'PERMISSIVE', 'DISABLE']) {
    it(`PeerAuthentication ${mode}: a bound Sidecar ingress port gets the chains of the same port captured on 15006`, () => {
      const t = translateWith(SERVICES + ingressSidecar() + peerAuth(mode) + POLICIES);
      for (const [port] of PORTS) {
        const bound = listener(t, `0.0.0.0_${port + 10000}`);
        expect(bound).toMatchObject({ address: '0.0.0.0', port: port + 10000, direction: 'INBOUND' });
        expect(bound.useOriginalDst).toBeUndefined();
        expect(bound.filterChains.every((c) => c.match.destinationPort === port + 10000), String(port)).toBe(true);
        expect(shape(bound.filterChains), `${mode} ${port}`).toEqual(shape(capturedChains(t, port)));
      }
    });
  }

  it('STRICT on a bound port: mTLS with the workload certificate, plaintext to BlackHoleCluster; authorization and JWT on its HTTP chain', () => {
    const t = translateWith(SERVICES + ingressSidecar() + peerAuth('STRICT') + POLICIES);
    const http = listener(t, '0.0.0.0_18080').filterChains;
    expect(http.map((c) => c.name)).toEqual(['0.0.0.0_18080_mtls', '0.0.0.0_18080_plaintext_refused']);
    expect(http[0]).toMatchObject({ match: { destinationPort: 18080, transportProtocol: 'tls' } });
    // istiod's inbound mTLS on an HTTP chain (istioctl's authz testdata, chain 0.0.0.0_80; cipher suites not modelled)
    expect(downstreamTls(http[0])).toEqual({
      commonTlsContext: {
        tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
        alpnProtocols: ['h2', 'http/1.1'],
        tlsCertificateSdsSecretConfigs: [{ name: 'default' }],
        combinedValidationContext: {
          defaultValidationContext: { matchSubjectAltNames: [{ prefix: 'spiffe://cluster.local/' }] },
          validationContextSdsSecretConfig: { name: 'ROOTCA' },
        },
      },
      requireClientCertificate: true,
    });
    expect(chainHcm(http[0])?.httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.jwt_authn', 'envoy.filters.http.rbac']);
    expect(chainHcm(http[0])?.forwardClientCertDetails).toBe('APPEND_FORWARD');
    expect(tcpProxyOf(http[1])?.clusters).toEqual([{ name: 'BlackHoleCluster', weight: 1 }]);
    // TCP: network RBAC on the mTLS chain, never on the black hole
    const tcp = listener(t, '0.0.0.0_15432').filterChains;
    expect(tcp.map((c) => [c.name, tcpAuthzOf(c).length])).toEqual([['0.0.0.0_15432_mtls', 1], ['0.0.0.0_15432_plaintext_refused', 0]]);
  });

  it('PERMISSIVE per port (portLevelMtls) applies to bound ports by their port number', () => {
    const t = translateWith(SERVICES + ingressSidecar() + peerAuth('STRICT', { 18080: 'PERMISSIVE', 15432: 'DISABLE' }));
    expect(listener(t, '0.0.0.0_18080').filterChains.map((c) => c.name)).toEqual(['0.0.0.0_18080_mtls', '0.0.0.0_18080_tls_passthrough', '0.0.0.0_18080']);
    expect(listener(t, '0.0.0.0_15432').filterChains.map((c) => c.name)).toEqual(['0.0.0.0_15432']);
    expect(listener(t, '0.0.0.0_19000').filterChains.map((c) => c.name)).toEqual(['0.0.0.0_19000_mtls', '0.0.0.0_19000_plaintext_refused']);
  });

  it('without a workload certificate, PERMISSIVE is plaintext only (on both kinds of listener)', () => {
    const t = translateWith(SERVICES + ingressSidecar(), false);
    expect(listener(t, '0.0.0.0_18080').filterChains.map((c) => c.name)).toEqual(['0.0.0.0_18080']);
    expect(capturedChains(t, 8080).map((c) => c.name)).toEqual(['0.0.0.0_8080']);
  });

  it('an undeclared protocol is detected on the bound listener too (HTTP by its first bytes, else TCP)', () => {
    const t = translateWith(SERVICES + ingressSidecar() + peerAuth('DISABLE'));
    const auto = listener(t, '0.0.0.0_17000');
    expect(auto.protocolDetectionTimeoutMs).toBe(0);
    expect(auto.filterChains.map((c) => [c.name, c.match.applicationProtocols, !!chainHcm(c), !!tcpProxyOf(c)])).toEqual([
      ['0.0.0.0_17000_http', ['http/1.0', 'http/1.1', 'h2c'], true, false],
      ['0.0.0.0_17000', undefined, false, true],
    ]);
  });

  it('the service a port belongs to is the cluster metadata (telemetry); GRPC reaches the app over HTTP/2', () => {
    const t = translateWith(SERVICES + ingressSidecar());
    for (const port of [8080, 18080]) {
      const name = `inbound|${port}||`;
      // only the captured port is a target port of web; the bound one (18080) has no service
      if (port === 8080) expect(cluster(t, name).service).toEqual({ host: 'web.default.svc.cluster.local', namespace: 'default', port: 80 });
      else expect(cluster(t, name).service).toBeUndefined();
    }
    expect(cluster(t, 'inbound|9000||')).toMatchObject({ service: { host: 'web.default.svc.cluster.local', port: 9000 }, http2: {} });
    expect(cluster(t, 'inbound|19000||').http2).toBeDefined();
    expect(cluster(t, 'inbound|8080||').http2).toBeUndefined();
  });

  it('a bound listener for a service port carries that service, like the captured one', () => {
    const text = SERVICES + `
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  ingress:
  - port: { number: 8080, name: http, protocol: HTTP }
    bind: 0.0.0.0
    defaultEndpoint: 127.0.0.1:8081
`;
    const t = translateWith(text);
    expect(cluster(t, 'inbound|8080||')).toMatchObject({ service: { host: 'web.default.svc.cluster.local', port: 80 } });
    expect(hostsOf(t, 'inbound|8080||')).toMatchObject([{ address: '127.0.0.1', port: 8081 }]);
    expect(listener(t, '0.0.0.0_8080').filterChains.map((c) => c.name)).toEqual(['0.0.0.0_8080_mtls', '0.0.0.0_8080_tls_passthrough', '0.0.0.0_8080']);
  });
});

describe('inbound: Sidecar ingress tls', () => {
  const tlsSidecar = (mode: string, protocol = 'HTTPS') => SERVICES + `
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  ingress:
  - port: { number: 8443, name: https, protocol: ${protocol} }
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:8080
    tls:
      mode: ${mode}
      serverCertificate: ${CERTS}/workload-foo-cert.pem
      privateKey: ${CERTS}/workload-foo-key.pem
      caCertificates: ${CERTS}/root-cert.pem
`;

  it('where mTLS is DISABLE: only TLS, terminated with the Sidecar certificates; HTTPS is served as HTTP after termination', () => {
    const t = translateWith(tlsSidecar('SIMPLE') + peerAuth('STRICT', { 8443: 'DISABLE' }));
    const chains = listener(t, '0.0.0.0_8443').filterChains;
    expect(chains.map((c) => [c.name, c.match.transportProtocol, secretNames(downstreamTls(c))[0]?.startsWith('file-cert:'), !!chainHcm(c)])).toEqual([['0.0.0.0_8443_tls', 'tls', true, true]]);
    const certSecret = t.snapshot.secrets.find((s) => s.name === secretNames(downstreamTls(chains[0]))[0]);
    expect(certSecret).toMatchObject({ tlsCertificate: { certificateChain: expect.stringContaining('BEGIN CERTIFICATE'), privateKey: expect.stringContaining('PRIVATE KEY') } });
    expect(downstreamTls(chains[0])?.requireClientCertificate).toBeUndefined();
    expect(t.warnings).toEqual([]);
    const mutual = listener(translateWith(tlsSidecar('MUTUAL', 'TLS') + peerAuth('DISABLE')), '0.0.0.0_8443').filterChains;
    expect(mutual.map((c) => [downstreamTls(c)?.requireClientCertificate, !!tcpProxyOf(c), secretNames(downstreamTls(c))[1]?.startsWith('file-root:')])).toEqual([[true, true, true]]);
  });

  it('where mTLS applies (STRICT, PERMISSIVE) the Sidecar tls is not used, with a warning, as Istio does', () => {
    const t = translateWith(tlsSidecar('SIMPLE') + peerAuth('STRICT'));
    expect(listener(t, '0.0.0.0_8443').filterChains.map((c) => secretNames(downstreamTls(c))[1])).toEqual(['ROOTCA', undefined]);
    expect(t.warnings.filter((w) => w.includes('inbound port 8443') && w.includes('STRICT'))).toHaveLength(1);
  });

  it('validation: SIMPLE or MUTUAL only, with the certificate files; errors name the field', () => {
    expect(parseError(tlsSidecar('ISTIO_MUTUAL')).location.field).toBe('spec.ingress[0].tls.mode');
    const missing = tlsSidecar('SIMPLE').replace(`${CERTS}/workload-foo-key.pem`, `${CERTS}/no-such-key.pem`);
    expect(parseError(missing).location.field).toBe('spec.ingress[0].tls.privateKey');
  });
});

describe('inbound: listeners', () => {
  it('virtualInbound comes first, then the bound ports; bound ports are not captured as well', () => {
    const t = translateWith(SERVICES + ingressSidecar());
    const inbound = t.snapshot.listeners.filter((l: Listener) => l.direction === 'INBOUND').map((l) => l.name);
    expect(inbound).toEqual(['virtualInbound', '0.0.0.0_18080', '0.0.0.0_19000', '0.0.0.0_15432', '0.0.0.0_17000']);
    const boundPorts = PORTS.map(([p]) => p + 10000);
    expect(listener(t, 'virtualInbound').filterChains.some((c) => boundPorts.includes(c.match.destinationPort ?? 0))).toBe(false);
  });
});
