/** Milliseconds per grpc-timeout unit (gRPC over HTTP/2: Hours, Minutes, Seconds, milli, micro, nano). */
const GRPC_TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout header (`100m`, `5S`: at most 8 digits and a unit) in whole ms (at least 1), or undefined when malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  return Math.max(1, Math.ceil(Number(m[1]) * GRPC_TIMEOUT_UNIT_MS[m[2]]));
}

/**
 * The route timeout, shortened by a gRPC client's grpc-timeout (Istio sets max_grpc_timeout 0: the
 * client's deadline is honoured, and it applies even when the route has none). 0: no timeout.
 */
export function effectiveTimeout(routeMs: number, grpcTimeout: string | undefined): number {
  if (!grpcTimeout) return routeMs;
  const ms = parseGrpcTimeout(grpcTimeout);
  if (ms === undefined) return routeMs;
  return routeMs ? Math.min(routeMs, ms) : ms;
}
