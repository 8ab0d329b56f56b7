import { stringify } from 'yaml';

/** Builders for Istio resources, rendered into one multi-document YAML text. */

export const API = 'networking.istio.io/v1';

export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: unknown;
}

export function resource(kind: string, name: string, namespace: string, spec: unknown): Resource {
  return { apiVersion: API, kind, metadata: { name, namespace }, spec };
}

export function toYaml(...docs: Resource[]): string {
  return docs.map((d) => stringify(d)).join('---\n');
}

export interface EndpointSpec {
  port: number;
  labels?: Record<string, string>;
  address?: string;
  /** Port name in the ServiceEntry's port list (default `http`). */
  portName?: string;
  /** Explicit `ports` map (port name → port), overriding `port`/`portName`. */
  ports?: Record<string, number>;
}

/**
 * A MESH_INTERNAL ServiceEntry with STATIC endpoints on 127.0.0.1, one HTTP port named `http`
 * (or several ports via `ports`).
 */
export function serviceEntry(opts: {
  name: string;
  namespace?: string;
  host: string;
  port?: number;
  ports?: { number: number; name: string; protocol?: string }[];
  endpoints: EndpointSpec[];
  resolution?: string;
}): Resource {
  const ports = opts.ports ?? [{ number: opts.port ?? 80, name: 'http', protocol: 'HTTP' }];
  return resource('ServiceEntry', opts.name, opts.namespace ?? 'default', {
    hosts: [opts.host],
    location: 'MESH_INTERNAL',
    resolution: opts.resolution ?? 'STATIC',
    ports: ports.map((p) => ({ protocol: 'HTTP', ...p })),
    endpoints: opts.endpoints.map((e) => ({
      address: e.address ?? '127.0.0.1',
      ports: e.ports ?? { [e.portName ?? 'http']: e.port },
      ...(e.labels ? { labels: e.labels } : {}),
    })),
  });
}

/** A Gateway selecting `istio: ingressgateway` with one plaintext HTTP server. */
export function gateway(opts: { name?: string; namespace?: string; port: number; hosts?: string[] }): Resource {
  return resource('Gateway', opts.name ?? 'gw', opts.namespace ?? 'default', {
    selector: { istio: 'ingressgateway' },
    servers: [{ port: { number: opts.port, name: 'http', protocol: 'HTTP' }, hosts: opts.hosts ?? ['*'] }],
  });
}

export function virtualService(name: string, spec: Record<string, unknown>, namespace = 'default'): Resource {
  return resource('VirtualService', name, namespace, spec);
}

export function destinationRule(name: string, spec: Record<string, unknown>, namespace = 'default'): Resource {
  return resource('DestinationRule', name, namespace, spec);
}

export function sidecar(name: string, spec: Record<string, unknown>, namespace = 'default'): Resource {
  return resource('Sidecar', name, namespace, spec);
}

/** CLI arguments for gateway mode (the Gateway above selects this label). */
export const GATEWAY_ARGS = ['--mode', 'gateway', '--label', 'istio=ingressgateway', '--namespace', 'default'];

/**
 * The smallest gateway: a plaintext server on `port` for every host, and a VirtualService sending
 * every request to the ServiceEntry `app` (HTTP, port 80) whose endpoint is 127.0.0.1:`appPort`.
 */
export function gatewayToApp(port: number, appPort: number): string {
  const host = 'app.default.svc.cluster.local';
  return toYaml(
    serviceEntry({ name: 'app', host, port: 80, endpoints: [{ port: appPort }] }),
    gateway({ port }),
    virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host, port: { number: 80 } } }] }] }),
  );
}
