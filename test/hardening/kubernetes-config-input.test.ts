// Hostile or malformed Kubernetes objects in the config: every one is refused with a ConfigError
// naming its field (never a TypeError), kind names from Object.prototype are not registry kinds,
// ExternalName chains and loops resolve in bounded time, and a large dump builds quickly.
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors } from '../../src/config/errors.js';
import { buildServices } from '../../src/config/istio/registry.js';
import { parseYaml, sidecarNode } from '../config/helpers.js';

function errorOf(text: string): ConfigError {
  try {
    parseYaml(text);
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors[0];
    if (e instanceof ConfigError) return e;
    throw e;
  }
  return expect.fail('expected the document to be refused');
}

const service = (spec: string, metadata = '') => `apiVersion: v1\nkind: Service\nmetadata: { name: s${metadata} }\nspec: ${spec}\n`;
const slice = (body: string) => `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: s-1, labels: { kubernetes.io/service-name: s } }\n${body}\n`;
const pod = (body: string) => `apiVersion: v1\nkind: Pod\nmetadata: { name: p }\n${body}\n`;

describe('malformed Kubernetes objects', () => {
  it.each([
    ['spec a string', service('"x"'), 'spec'],
    ['ports a string', service('{ ports: x }'), 'spec.ports'],
    ['port a number', service('{ ports: [1] }'), 'spec.ports[0]'],
    ['port out of range', service('{ ports: [{ port: 70000 }] }'), 'spec.ports[0].port'],
    ['targetPort negative', service('{ ports: [{ port: 80, targetPort: -1 }] }'), 'spec.ports[0].targetPort'],
    ['targetPort an object', service('{ ports: [{ port: 80, targetPort: {} }] }'), 'spec.ports[0].targetPort'],
    ['transport protocol', service('{ ports: [{ port: 80, protocol: QUIC }] }'), 'spec.ports[0].protocol'],
    ['clusterIP not an IP', service('{ clusterIP: "10.0.0.999" }'), 'spec.clusterIP'],
    ['clusterIPs numbers', service('{ clusterIPs: [1] }'), 'spec.clusterIPs[0]'],
    ['selector nested', service('{ selector: { a: { b: 1 } } }'), 'spec.selector.a'],
    ['exportTo annotation a number', service('{}', ', annotations: { networking.istio.io/exportTo: 5 }'), 'metadata.annotations.networking.istio.io/exportTo'],
    ['exportTo annotation with an empty entry', service('{}', ', annotations: { networking.istio.io/exportTo: "a,,b" }'), 'metadata.annotations.networking.istio.io/exportTo'],
    ['slice without addressType', slice('endpoints: []'), 'addressType'],
    ['slice addresses a string', slice('addressType: IPv4\nendpoints: [{ addresses: x }]'), 'endpoints[0].addresses'],
    ['slice conditions a string', slice('addressType: IPv4\nendpoints: [{ addresses: [10.0.0.1], conditions: yes }]'), 'endpoints[0].conditions'],
    ['slice ready a string', slice('addressType: IPv4\nendpoints: [{ addresses: [10.0.0.1], conditions: { ready: "true" } }]'), 'endpoints[0].conditions.ready'],
    ['slice port not a number', slice('addressType: IPv4\nports: [{ port: abc }]'), 'ports[0].port'],
    ['endpoints ip a number', 'apiVersion: v1\nkind: Endpoints\nmetadata: { name: s }\nsubsets: [{ addresses: [{ ip: 5 }] }]\n', 'subsets[0].addresses[0].ip'],
    ['pod status a string', pod('status: x'), 'status'],
    ['pod IP entries empty', pod('status: { podIPs: [{}] }'), 'status.podIPs[0].ip'],
    ['container port zero', pod('spec: { containers: [{ ports: [{ containerPort: 0 }] }] }'), 'spec.containers[0].ports[0].containerPort'],
    ['pod labels a list', 'apiVersion: v1\nkind: Pod\nmetadata: { name: p, labels: [a] }\n', 'metadata.labels'],
  ])('%s', (_name, text, field) => {
    expect(errorOf(text).location.field).toBe(field);
  });

  it('kind names of Object.prototype are no registry kinds', () => {
    for (const kind of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(errorOf(`apiVersion: v1\nkind: ${kind}\nmetadata: { name: x }\n`).reason, kind).toMatch(/^unsupported resource v1 /);
    }
  });
});

describe('bounded work', () => {
  it('a 1000-long ExternalName chain and a loop resolve quickly; the loop aliases nothing', () => {
    const docs = [service('{ clusterIP: 10.96.0.1, ports: [{ name: http, port: 80 }] }').replace('name: s ', 'name: target ')];
    for (let i = 0; i < 1000; i++) docs.push(service(`{ type: ExternalName, externalName: ${i === 0 ? 'target' : `a${i - 1}`}.default.svc.cluster.local }`).replace('name: s ', `name: a${i} `));
    for (let i = 0; i < 300; i++) docs.push(service(`{ type: ExternalName, externalName: l${(i + 1) % 300}.default.svc.cluster.local }`).replace('name: s ', `name: l${i} `));
    const cfg = parseYaml(docs.join('---\n'));
    const t0 = performance.now();
    const services = buildServices(cfg, sidecarNode());
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(services.get('target.default.svc.cluster.local')?.aliases).toHaveLength(1000);
    expect([...services.keys()]).toEqual(['target.default.svc.cluster.local']);
  });

  it('a dump of 1000 Services with 10 endpoints each builds its registry quickly', () => {
    const docs: string[] = [];
    for (let i = 0; i < 1000; i++) {
      docs.push(service(`{ clusterIP: 10.96.${i >> 8}.${i & 255}, ports: [{ name: http, port: 80 }] }`).replace('name: s ', `name: s${i} `));
      const endpoints = Array.from({ length: 10 }, (_, j) => `{ addresses: [10.${i >> 8}.${i & 255}.${j}] }`).join(', ');
      docs.push(slice(`addressType: IPv4\nendpoints: [${endpoints}]\nports: [{ name: http, port: 8080 }]`).replace('name: s-1, labels: { kubernetes.io/service-name: s }', `name: s${i}-1, labels: { kubernetes.io/service-name: s${i} }`));
    }
    const cfg = parseYaml(docs.join('---\n'));
    const t0 = performance.now();
    const services = buildServices(cfg, sidecarNode());
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(services.size).toBe(1000);
    expect(services.get('s999.default.svc.cluster.local')?.endpoints).toHaveLength(10);
  });
});
