import type { AccessLogComparison, AccessLogFilter } from '../../config/snapshot.js';
import { compileHeaderValueTest } from '../../router/match.js';
import { compileCelPredicate } from '../../common/cel.js';
import type { LogContext } from '../../common/log-context.js';

export type LogPredicate = (ctx: LogContext) => boolean;

function compare(c: AccessLogComparison): (v: number) => boolean {
  const want = c.value;
  switch (c.op) {
    case 'EQ':
      return (v) => v === want;
    case 'NE':
      return (v) => v !== want;
    case 'GE':
      return (v) => v >= want;
    case 'LE':
      return (v) => v <= want;
  }
}

/** Envoy's AccessLogFilter compiled once (filter.cc semantics: and/or short-circuit, CEL errors are false). */
export function compileLogFilter(f: AccessLogFilter): LogPredicate {
  if ('statusCode' in f) {
    const test = compare(f.statusCode);
    return (ctx) => test(ctx.responseCode);
  }
  if ('duration' in f) {
    const test = compare(f.duration);
    return (ctx) => test(ctx.durationMs);
  }
  if ('notHealthCheck' in f) return (ctx) => !ctx.healthCheck;
  // Envoy's TraceableRequestFilter: a traced request whose decision was forced (x-envoy-force-trace)
  if ('traceable' in f) return (ctx) => ctx.traceForced;
  if ('responseFlags' in f) {
    const wanted = new Set(f.responseFlags);
    if (wanted.size === 0) return (ctx) => ctx.responseFlags !== '-';
    return (ctx) => ctx.responseFlags !== '-' && ctx.responseFlags.split(',').some((flag) => wanted.has(flag));
  }
  if ('header' in f) {
    const test = compileHeaderValueTest(f.header);
    const name = f.header.name;
    return (ctx) => test(ctx.requestHeader(name));
  }
  if ('grpcStatus' in f) {
    const statuses = new Set(f.grpcStatus.statuses);
    const exclude = f.grpcStatus.exclude;
    // Envoy: a response without a gRPC status counts as UNKNOWN (2)
    return (ctx) => statuses.has(ctx.grpcStatus ?? 2) !== exclude;
  }
  if ('and' in f) {
    const all = f.and.map(compileLogFilter);
    return (ctx) => all.every((p) => p(ctx));
  }
  if ('or' in f) {
    const any = f.or.map(compileLogFilter);
    return (ctx) => any.some((p) => p(ctx));
  }
  return compileCelPredicate(f.cel);
}
