// Gateway servers beyond plaintext HTTP and HTTPS: TCP, TLS passthrough, AUTO_PASSTHROUGH, ISTIO_MUTUAL,
// TLS terminated into a TCP proxy — what istiod's gateway.go builds for them.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { translateIstio, type Translation } from '../../src/config/istio/translate.js';
import type { FilterChain } from '../../src/config/snapshot.js';
import { chainHcm, cluster, downstreamTls, gatewayNode, hostsOf, listener, parseYaml, secretNames, tcpAuthzOf, tcpProxyOf } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const SAMPLES = resolve(here, '../../../shared/conformance/istio/samples');
/** A sample's documents, as one YAML stream to append (`drop`: leave out the documents of this kind). */
const sample = (path: string, drop?: string) =>
  '\n---\n' +
  readFileSync(resolve(SAMPLES, path), 'utf8')
    .split(/^---$/m)
    .filter((d) => !drop || !d.includes(`kind: ${drop}`))
    .join('\n---\n');

const node = gatewayNode({ namespace: 'default' });
function translate(text: string, mtls = false, n = node): Translation {
  return translateIstio(parseYaml(text, n.namespace), n, { outboundPort: 15001, mtls });
}

function doc(kind: string, name: string, spec: string, ns = 'default'): string {
  return `\n---\napiVersion: networking.istio.io/v1\nkind: ${kind}\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n`;
}

/** A STATIC ServiceEntry; `ports` and `endpoints`: YAML flow maps. */
function serviceEntry(name: string, host: string, ports: string, endpoints: string[], location = 'MESH_INTERNAL'): string {
  return doc('ServiceEntry', name, `  hosts: [${host}]\n  location: ${location}\n  resolution: STATIC\n  ports: [${ports}]\n  endpoints: [${endpoints.join(', ')}]`);
}

const TCP_ECHO = 'tcp-echo.default.svc.cluster.local';
const TCP_ECHO_SE = serviceEntry('tcp-echo', TCP_ECHO, '{ number: 9000, name: tcp, protocol: TCP }', ['{ address: 10.0.0.1, labels: { version: v1 } }', '{ address: 10.0.0.2, labels: { version: v2 } }']);

function chain(t: Translation, listenerName: string, pick: (c: FilterChain) => boolean): FilterChain {
  const c = listener(t, listenerName).filterChains.find(pick);
  if (!c) expect.fail(`no such chain on ${listenerName}: ${JSON.stringify(listener(t, listenerName).filterChains.map((x) => x.name))}`);
  return c;
}

describe('gateway TCP servers (Istio "Ingress TCP": samples/tcp-echo)', () => {
  it('a TCP server routes by the bound VirtualService tcp route: weighted subsets, stat prefix the VirtualService', () => {
    const t = translate(TCP_ECHO_SE + sample('tcp-echo/tcp-echo-all-v1.yaml', 'VirtualService') + sample('tcp-echo/tcp-echo-20-v2.yaml'));
    const l = listener(t, '0.0.0.0_31400');
    expect(l.direction).toBe('GATEWAY');
    expect(l.filterChains).toHaveLength(1);
    expect(l.filterChains[0].match).toEqual({});
    expect(tcpProxyOf(l.filterChains[0])).toEqual({
      statPrefix: 'tcp-echo.default',
      clusters: [
        { name: `outbound|9000|v1|${TCP_ECHO}`, weight: 80 },
        { name: `outbound|9000|v2|${TCP_ECHO}`, weight: 20 },
      ],
      idleTimeoutMs: 3_600_000,
    });
    expect(hostsOf(t, `outbound|9000|v2|${TCP_ECHO}`).map((e) => e.address)).toEqual(['10.0.0.2']);
  });

  it('one destination: the stat prefix is its cluster; a route whose match names another port does not apply', () => {
    const t = translate(
      TCP_ECHO_SE +
        doc('Gateway', 'gw', '  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 31400, name: tcp, protocol: TCP }, hosts: ["*"] }]') +
        doc(
          'VirtualService',
          'echo',
          `  hosts: ["*"]
  gateways: [gw]
  tcp:
  - match: [{ port: 31401 }]
    route: [{ destination: { host: tcp-echo, port: { number: 9000 }, subset: v2 } }]
  - route: [{ destination: { host: tcp-echo, port: { number: 9000 } } }]`,
        ),
    );
    expect(tcpProxyOf(listener(t, '0.0.0.0_31400').filterChains[0])?.clusters).toEqual([{ name: `outbound|9000||${TCP_ECHO}`, weight: 100 }]);
    expect(tcpProxyOf(listener(t, '0.0.0.0_31400').filterChains[0])?.statPrefix).toBe(`outbound|9000||${TCP_ECHO}`);
  });

  it('a TCP server no VirtualService routes: no listener, a warning (istiod: "listener missed network filter")', () => {
    const t = translate(doc('Gateway', 'gw', '  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 31400, name: tcp, protocol: TCP }, hosts: ["*"] }]'));
    expect(t.snapshot.listeners).toEqual([]);
    expect(t.warnings.join('\n')).toMatch(/Gateway default\/gw: server on port 31400: no VirtualService bound to the gateway has a tcp route for it/);
  });
});

const NGINX = 'nginx.example.com';
const PASSTHROUGH = (extra = '') =>
  serviceEntry('nginx', 'my-nginx.default.svc.cluster.local', '{ number: 443, name: https, protocol: HTTPS }', ['{ address: 10.0.0.9 }']) +
  doc('Gateway', 'mygateway', `  selector: { istio: ingressgateway }\n  servers:\n  - { port: { number: 443, name: https, protocol: HTTPS }, tls: { mode: PASSTHROUGH }, hosts: [${NGINX}] }`) +
  doc(
    'VirtualService',
    'nginx',
    `  hosts: [${NGINX}]
  gateways: [mygateway]
  tls:
  - match: [{ port: 443, sniHosts: [${NGINX}] }]
    route: [{ destination: { host: my-nginx, port: { number: 443 } } }]${extra}`,
  );

describe('gateway TLS PASSTHROUGH (Istio "Ingress gateway without TLS termination")', () => {
  it('a chain per tls route match, by SNI, TCP-proxied to the destination with no TLS context', () => {
    const t = translate(PASSTHROUGH());
    const c = chain(t, '0.0.0.0_443', (x) => !!x.match.serverNames);
    expect(c.match).toEqual({ serverNames: [NGINX] });
    expect(c.transportSocket).toBeUndefined();
    expect(tcpProxyOf(c)?.clusters).toEqual([{ name: 'outbound|443||my-nginx.default.svc.cluster.local', weight: 100 }]);
    expect(listener(t, '0.0.0.0_443').filterChains).toHaveLength(1);
  });

  it('an SNI host a previous rule claimed: the later rule is skipped with a warning', () => {
    const t = translate(PASSTHROUGH(`\n  - match: [{ sniHosts: [${NGINX}] }]\n    route: [{ destination: { host: other.example.com, port: { number: 443 } } }]`));
    expect(listener(t, '0.0.0.0_443').filterChains).toHaveLength(1);
    expect(t.warnings.join('\n')).toMatch(/VirtualService default\/nginx tls match #0 skipped: duplicate SNI host names nginx\.example\.com/);
  });
});

describe('gateway AUTO_PASSTHROUGH (east-west gateway: samples/multicluster/expose-services.yaml)', () => {
  const EW = gatewayNode({ namespace: 'istio-system', labels: { istio: 'eastwestgateway' } });
  const REVIEWS = 'reviews.default.svc.cluster.local';
  const mesh =
    serviceEntry('reviews', REVIEWS, '{ number: 9080, name: http, protocol: HTTP }', [
      '{ address: 10.0.0.1, labels: { version: v1, security.istio.io/tlsMode: istio } }',
      '{ address: 10.0.0.2, labels: { version: v2, security.istio.io/tlsMode: istio } }',
    ]) +
    doc('DestinationRule', 'reviews', `  host: ${REVIEWS}\n  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]`) +
    serviceEntry('ext', 'api.example.local', '{ number: 443, name: tls, protocol: TLS }', ['{ address: 10.0.0.3 }'], 'MESH_EXTERNAL');

  it('a chain per cluster and subset, matching the SNI naming it and Istio mTLS ALPNs; no VirtualService needed', () => {
    const t = translate(mesh + sample('multicluster/expose-services.yaml'), false, EW);
    const l = listener(t, '0.0.0.0_15443');
    expect(l.filterChains.map((c) => c.match.serverNames?.[0]).sort()).toEqual([
      `outbound_.9080_._.${REVIEWS}`,
      `outbound_.9080_.v1_.${REVIEWS}`,
      `outbound_.9080_.v2_.${REVIEWS}`,
    ]);
    const v1 = chain(t, '0.0.0.0_15443', (c) => c.match.serverNames?.[0] === `outbound_.9080_.v1_.${REVIEWS}`);
    expect(v1.match.applicationProtocols).toEqual(['istio-peer-exchange', 'istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']);
    expect(v1.transportSocket).toBeUndefined();
    expect(tcpProxyOf(v1)).toMatchObject({ statPrefix: `outbound_.9080_.v1_.${REVIEWS}`, clusters: [{ name: `outbound_.9080_.v1_.${REVIEWS}`, weight: 1 }] });
  });

  it('the SNI clusters keep endpoints and load balancing but originate no TLS (the bytes are the client mTLS)', () => {
    const t = translate(mesh + sample('multicluster/expose-services.yaml'), true, EW);
    const original = cluster(t, `outbound|9080|v1|${REVIEWS}`);
    expect(original.transportSocketMatches).toBeDefined();
    const sni = cluster(t, `outbound_.9080_.v1_.${REVIEWS}`);
    expect(hostsOf(t, sni.name).map((e) => e.address)).toEqual(['10.0.0.1']);
    expect(sni.lbPolicy).toBe(original.lbPolicy);
    expect(sni.transportSocket).toBeUndefined();
    expect(sni.transportSocketMatches).toBeUndefined();
    expect(sni.service).toEqual(original.service);
  });

  it('AuthorizationPolicy gives AUTO_PASSTHROUGH chains no network RBAC (they see no identity), other gateway TCP chains get it', () => {
    const deny = doc('AuthorizationPolicy', 'deny-all', '  action: DENY\n  rules: [{ from: [{ source: { notNamespaces: [istio-system] } }] }]', 'istio-system').replace('networking.istio.io/v1', 'security.istio.io/v1');
    const tcpServer = doc('Gateway', 'tcp', '  selector: { istio: eastwestgateway }\n  servers: [{ port: { number: 31400, name: tcp, protocol: TCP }, hosts: ["*"] }]') +
      doc('VirtualService', 'tcp', `  hosts: ["*"]\n  gateways: [tcp]\n  tcp: [{ route: [{ destination: { host: ${REVIEWS}, port: { number: 9080 } } }] }]`);
    const t = translate(mesh + sample('multicluster/expose-services.yaml') + tcpServer + deny, false, EW);
    expect(listener(t, '0.0.0.0_15443').filterChains.every((c) => tcpAuthzOf(c).length === 0)).toBe(true);
    expect(listener(t, '0.0.0.0_31400').filterChains.map((c) => tcpAuthzOf(c).length)).toEqual([1]);
  });
});

const EGRESS = (protocol: string, extra = '') =>
  serviceEntry('cnn', 'edition.cnn.com', '{ number: 80, name: http, protocol: HTTP }, { number: 443, name: tls, protocol: TLS }', ['{ address: 10.0.0.5 }'], 'MESH_EXTERNAL') +
  doc('Gateway', 'egress', `  selector: { istio: ingressgateway }\n  servers:\n  - { port: { number: 443, name: mtls, protocol: ${protocol} }, hosts: [edition.cnn.com], tls: { mode: ISTIO_MUTUAL } }`) +
  doc(
    'VirtualService',
    'cnn',
    `  hosts: [edition.cnn.com]
  gateways: [egress]
  http: [{ route: [{ destination: { host: edition.cnn.com, port: { number: 80 } } }] }]
  tcp: [{ match: [{ port: 443 }], route: [{ destination: { host: edition.cnn.com, port: { number: 443 } } }] }]${extra}`,
  );

describe('gateway ISTIO_MUTUAL (egress gateway) and TLS servers terminating into a TCP proxy', () => {
  it('HTTPS ISTIO_MUTUAL: mesh mTLS with the workload certificate, then HTTP routing', () => {
    const t = translate(EGRESS('HTTPS'), true);
    const c = chain(t, '0.0.0.0_443', () => true);
    expect(c.match).toEqual({ transportProtocol: 'tls', serverNames: ['edition.cnn.com'] });
    // istiod's gateway ISTIO_MUTUAL: the workload certificate, client certificates of the mesh roots required
    expect(downstreamTls(c)).toEqual({
      commonTlsContext: {
        tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
        alpnProtocols: ['h2', 'http/1.1'],
        tlsCertificateSdsSecretConfigs: [{ name: 'default' }],
        combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'ROOTCA' } },
      },
      requireClientCertificate: true,
    });
    expect(chainHcm(c)?.routeConfigName).toBe('https.443.mtls.egress.default');
  });

  it('TLS ISTIO_MUTUAL: mesh mTLS terminated, then the tcp route', () => {
    const t = translate(EGRESS('TLS'), true);
    const c = chain(t, '0.0.0.0_443', () => true);
    expect(secretNames(downstreamTls(c))).toEqual(['default', 'ROOTCA']);
    expect(downstreamTls(c)?.commonTlsContext.alpnProtocols).toBeUndefined();
    expect(tcpProxyOf(c)?.clusters).toEqual([{ name: 'outbound|443||edition.cnn.com', weight: 100 }]);
  });

  it('ISTIO_MUTUAL without a workload certificate: the server is skipped with a warning', () => {
    const t = translate(EGRESS('HTTPS'), false);
    expect(t.snapshot.listeners).toEqual([]);
    expect(t.warnings.join('\n')).toMatch(/server on port 443 \(HTTPS with tls mode ISTIO_MUTUAL\) skipped: ISTIO_MUTUAL terminates with the workload certificate: run with --cert-dir/);
  });

  it('TLS SIMPLE: the server certificate terminates, no ALPN (opaque bytes), then the tcp route', () => {
    const cert = resolve(SAMPLES, 'certs/workload-foo-cert.pem');
    const key = resolve(SAMPLES, 'certs/workload-foo-key.pem');
    const text = EGRESS('TLS').replace('tls: { mode: ISTIO_MUTUAL }', `tls: { mode: SIMPLE, serverCertificate: ${cert}, privateKey: ${key} }`);
    const t = translate(text);
    const c = chain(t, '0.0.0.0_443', () => true);
    // the files by istiod's SDS names, their PEM in the secrets
    expect(downstreamTls(c)).toEqual({ commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: `file-cert:${cert}~${key}` }] } });
    expect(t.snapshot.secrets).toEqual([{ name: `file-cert:${cert}~${key}`, tlsCertificate: { certificateChain: expect.stringContaining('BEGIN CERTIFICATE'), privateKey: expect.stringContaining('PRIVATE KEY') } }]);
    expect(tcpProxyOf(c)?.clusters).toEqual([{ name: 'outbound|443||edition.cnn.com', weight: 100 }]);
  });

  it('TLS MUTUAL: client certificates from caCertificates are required before the tcp route; HTTPS keeps h2/http1.1 ALPN', () => {
    const file = (f: string) => resolve(SAMPLES, `certs/${f}`);
    const mutual = `tls: { mode: MUTUAL, serverCertificate: ${file('workload-foo-cert.pem')}, privateKey: ${file('workload-foo-key.pem')}, caCertificates: ${file('root-cert.pem')} }`;
    const tcpChain = chain(translate(EGRESS('TLS').replace('tls: { mode: ISTIO_MUTUAL }', mutual)), '0.0.0.0_443', () => true);
    expect(downstreamTls(tcpChain)).toMatchObject({ requireClientCertificate: true, commonTlsContext: { combinedValidationContext: { validationContextSdsSecretConfig: { name: `file-root:${file('root-cert.pem')}` } } } });
    expect(downstreamTls(tcpChain)?.commonTlsContext.alpnProtocols).toBeUndefined();
    expect(tcpProxyOf(tcpChain)).toBeDefined();
    const httpsChain = chain(translate(EGRESS('HTTPS').replace('tls: { mode: ISTIO_MUTUAL }', mutual)), '0.0.0.0_443', () => true);
    expect(downstreamTls(httpsChain)).toMatchObject({ requireClientCertificate: true, commonTlsContext: { alpnProtocols: ['h2', 'http/1.1'] } });
  });
});
