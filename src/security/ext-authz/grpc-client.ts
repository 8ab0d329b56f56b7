/**
 * The envoy.service.auth.v3.Authorization/Check client (Envoy's ext_authz GrpcClientImpl) over
 * @grpc/grpc-js. The Envoy protos (shipped as data by @grpc/grpc-js-xds) are loaded once per
 * worker, and only when a config names a gRPC provider; one channel per provider endpoint and
 * authority, kept for the worker's life and shared by every request and connection.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as GrpcJs from '@grpc/grpc-js';
import { hostPort } from '../../common/address.js';
import type { CheckRequestMessage } from './check-request.js';
import type { ExtAuthzResult } from './result.js';

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
export const AUTHORIZATION_PROTO = 'envoy/service/auth/v3/external_auth.proto';

/** Where @grpc/grpc-js-xds keeps the Envoy, xDS, googleapis and validate protos it ships. */
export function envoyProtoIncludeDirs(): string[] {
  const deps = join(dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map((d) => join(deps, d));
}

interface AuthorizationApi {
  grpc: typeof GrpcJs;
  Client: GrpcJs.ServiceClientConstructor;
}

let api: Promise<AuthorizationApi> | undefined;
const channels = new Map<string, GrpcJs.Client>();

/** Loads grpc-js and the Authorization service's protos, once; later calls share the promise. */
export function loadAuthorizationApi(): Promise<AuthorizationApi> {
  return (api ??= (async () => {
    const [grpc, loader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
    const definition = await loader.load(AUTHORIZATION_PROTO, {
      includeDirs: envoyProtoIncludeDirs(),
      longs: String,
      oneofs: true,
    });
    const Client = grpc.makeClientConstructor(definition[AUTHORIZATION_SERVICE] as GrpcJs.ServiceDefinition, 'Authorization');
    return { grpc, Client };
  })());
}

function channel(a: AuthorizationApi, host: { address: string; port: number }, authority: string): GrpcJs.Client {
  const target = hostPort(host.address, host.port);
  const key = `${target}/${authority}`;
  let c = channels.get(key);
  if (!c) channels.set(key, (c = new a.Client(target, a.grpc.credentials.createInsecure(), { 'grpc.default_authority': authority })));
  return c;
}

/** A Check in flight; `cancel()` abandons it (the connection it was for went away). */
export interface PendingCheck {
  readonly result: Promise<ExtAuthzResult>;
  cancel(): void;
}

/**
 * Calls Check with a deadline of `timeoutMs`. A CheckResponse whose status is OK allows; any other
 * status denies (with denied_response's HTTP status, 403 when unset, headers and body); a failed
 * call (unreachable, deadline, a gRPC error) is an error.
 */
export function checkGrpc(host: { address: string; port: number }, authority: string, timeoutMs: number, request: CheckRequestMessage): PendingCheck {
  let cancelled = false;
  let call: GrpcJs.ClientUnaryCall | undefined;
  const result = loadAuthorizationApi().then(
    (a) =>
      new Promise<ExtAuthzResult>((resolve) => {
        if (cancelled) return resolve({ kind: 'error', message: 'cancelled' });
        const client = channel(a, host, authority) as GrpcJs.Client & Record<string, GrpcJs.requestCallback<unknown> & ((...args: unknown[]) => GrpcJs.ClientUnaryCall)>;
        call = client.Check(request, { deadline: Date.now() + timeoutMs }, (err: GrpcJs.ServiceError | null, res: unknown) => {
          resolve(err ? { kind: 'error', message: err.details || err.message } : toResult(res as CheckResponse));
        });
      }),
    (e: Error) => ({ kind: 'error', message: `ext_authz gRPC API unavailable: ${e.message}` }) as ExtAuthzResult,
  );
  return {
    result,
    cancel() {
      cancelled = true;
      call?.cancel();
    },
  };
}

interface HeaderValueOption {
  header?: { key?: string; value?: string };
  append?: { value?: boolean };
}

/** envoy.service.auth.v3.CheckResponse, as proto-loader decodes it (unset fields absent). */
interface CheckResponse {
  status?: { code?: number; message?: string };
  deniedResponse?: { status?: { code?: number }; headers?: HeaderValueOption[]; body?: string };
  okResponse?: { headers?: HeaderValueOption[]; headersToRemove?: string[]; responseHeadersToAdd?: HeaderValueOption[] };
}

/** Envoy's reading of a CheckResponse (GrpcClientImpl::onSuccess). */
export function toResult(res: CheckResponse): ExtAuthzResult {
  if ((res.status?.code ?? 0) === 0) {
    const ok = res.okResponse;
    const setHeaders: [string, string][] = [];
    const appendHeaders: [string, string][] = [];
    // append unset or false: the header replaces the request's (the proto's documented default here)
    for (const h of ok?.headers ?? []) {
      const kv = header(h);
      if (kv) (h.append?.value ? appendHeaders : setHeaders).push(kv);
    }
    return {
      kind: 'ok',
      setHeaders,
      appendHeaders,
      // pseudo-headers and Host cannot be removed (Envoy ignores such entries)
      removeHeaders: (ok?.headersToRemove ?? []).map((n) => n.toLowerCase()).filter((n) => !n.startsWith(':') && n !== 'host'),
      responseHeaders: (ok?.responseHeadersToAdd ?? []).map(header).filter((kv) => kv !== undefined),
    };
  }
  const denied = res.deniedResponse;
  return {
    kind: 'denied',
    status: denied?.status?.code || 403,
    body: denied?.body ?? '',
    headers: (denied?.headers ?? []).flatMap((h) => header(h) ?? []), // flat: name, value, ...
  };
}

function header(h: HeaderValueOption): [string, string] | undefined {
  const key = h.header?.key?.toLowerCase();
  return key ? [key, h.header?.value ?? ''] : undefined;
}
