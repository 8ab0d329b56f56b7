import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { stringify } from 'yaml';
import { svcHost } from './fixtures.js';
import { serviceEntry, type Resource } from './mesh.js';
import { AUTHORIZATION_PROTO, AUTHORIZATION_SERVICE, envoyProtoIncludeDirs } from '../../src/security/ext-authz/grpc-client.js';

/** A CheckRequest as the server decodes it (proto-loader objects, camelCase). */
export interface SeenCheck {
  attributes: {
    source?: { address?: { socketAddress?: { address: string; portValue: number } }; principal?: string };
    destination?: { address?: { socketAddress?: { address: string; portValue: number } }; principal?: string };
    request?: { http?: { id: string; method: string; path: string; host: string; scheme: string; protocol: string; headers: Record<string, string>; size: string } };
  };
}

export type CheckHandler = (req: SeenCheck) => unknown | Promise<unknown>;

export interface AuthzServer {
  readonly port: number;
  readonly checks: SeenCheck[];
  close(): Promise<void>;
}

/** A real envoy.service.auth.v3.Authorization server (grpc-js, Envoy's protos) on loopback. */
export async function startAuthzServer(handler: CheckHandler): Promise<AuthzServer> {
  const def = loadSync(AUTHORIZATION_PROTO, {
    includeDirs: envoyProtoIncludeDirs(),
    longs: String,
    oneofs: true,
  });
  const checks: SeenCheck[] = [];
  const server = new grpc.Server();
  server.addService(def[AUTHORIZATION_SERVICE] as grpc.ServiceDefinition, {
    Check(call: grpc.ServerUnaryCall<SeenCheck, unknown>, cb: grpc.sendUnaryData<unknown>) {
      checks.push(call.request);
      Promise.resolve(handler(call.request)).then((r) => cb(null, r), (e: Error) => cb({ code: grpc.status.INTERNAL, details: e.message }));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    checks,
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}

/** The authorization service's host in the mesh (a ServiceEntry with one GRPC port, 9000). */
export const AUTHZ_HOST = svcHost('authz');

export function authzServiceEntry(port: number): Resource {
  return serviceEntry({ name: 'authz', host: AUTHZ_HOST, ports: [{ number: 9000, name: 'grpc', protocol: 'GRPC' }], endpoints: [{ port, portName: 'grpc' }] });
}

/** A MeshConfig with one envoyExtAuthzGrpc provider on the authz service (fields may override). */
export function grpcProviderMesh(name: string, fields: Record<string, unknown> = {}): string {
  return stringify({
    apiVersion: 'meshconfig.istio.io/v1alpha1',
    kind: 'MeshConfig',
    extensionProviders: [{ name, envoyExtAuthzGrpc: { service: AUTHZ_HOST, port: 9000, ...fields } }],
  });
}

/** An AuthorizationPolicy (namespace default) in YAML. */
export function authorizationPolicy(name: string, spec: Record<string, unknown>): string {
  return stringify({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'default' }, spec });
}
