import type { AccessLog } from '../../config/snapshot.js';
import type { LogContext } from '../../common/log-context.js';
import { compileLogFilter, type LogPredicate } from './filter.js';
import { compileFormat } from '../../common/substitution-format.js';
import type { LogSinks } from './sinks.js';

interface CompiledLog {
  readonly filter: LogPredicate | undefined;
  readonly emit: (ctx: LogContext) => void;
}

/**
 * A connection manager's (or TCP proxy's) access logs, compiled once per Runtime: each finished
 * request is offered to every log; a log whose filter lets it through formats it into its file, or
 * into a record for its collector.
 */
export class AccessLogs {
  constructor(private readonly logs: readonly CompiledLog[]) {}

  log(ctx: LogContext): void {
    for (const l of this.logs) if (!l.filter || l.filter(ctx)) l.emit(ctx);
  }
}

/** What identifies an access log's destination for its worker: a file path, or an OpenTelemetry logger's config. */
export function sinkKey(a: AccessLog): string {
  return 'path' in a ? a.path : `otlp:${JSON.stringify(a.openTelemetry)}`;
}

function compileEmit(a: AccessLog, sinks: LogSinks): (ctx: LogContext) => void {
  if ('path' in a) {
    const format = compileFormat(a.format);
    const sink = sinks.sink(a.path);
    return (ctx) => sink.write(format(ctx));
  }
  const o = a.openTelemetry;
  const body = compileFormat({ text: o.body });
  const attributes = Object.entries(o.attributes).map(([k, v]) => [k, compileFormat({ text: v })] as const);
  const exporter = sinks.exporter(sinkKey(a), o);
  return (ctx) => exporter.add({ timeMs: ctx.startTimeMs, body: body(ctx), attributes: attributes.map(([k, f]) => [k, f(ctx)] as const), ...(ctx.traceId ? { traceId: ctx.traceId } : {}) });
}

/** Compiles a Snapshot's access logs onto the worker's files and exporters; undefined when there are none. */
export function compileAccessLogs(specs: readonly AccessLog[] | undefined, sinks: LogSinks): AccessLogs | undefined {
  if (!specs?.length) return undefined;
  return new AccessLogs(specs.map((a) => ({ filter: a.filter ? compileLogFilter(a.filter) : undefined, emit: compileEmit(a, sinks) })));
}
