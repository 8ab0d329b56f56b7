import type { AccessLog } from '../../config/snapshot.js';
import type { LogContext } from '../../common/log-context.js';
import { compileLogFilter, type LogPredicate } from './filter.js';
import { compileFormat } from '../../common/substitution-format.js';
import type { LogSink, LogSinks } from './sinks.js';

interface CompiledLog {
  readonly filter: LogPredicate | undefined;
  readonly format: (ctx: LogContext) => string;
  readonly sink: LogSink;
}

/**
 * A connection manager's (or TCP proxy's) access logs, compiled once per Runtime: each finished
 * request is offered to every log; a log whose filter lets it through formats it into its file.
 */
export class AccessLogs {
  constructor(private readonly logs: readonly CompiledLog[]) {}

  log(ctx: LogContext): void {
    for (const l of this.logs) if (!l.filter || l.filter(ctx)) l.sink.write(l.format(ctx));
  }
}

/** Compiles a Snapshot's access logs onto the worker's files; undefined when there are none. */
export function compileAccessLogs(specs: readonly AccessLog[] | undefined, sinks: LogSinks): AccessLogs | undefined {
  if (!specs?.length) return undefined;
  return new AccessLogs(
    specs.map((a) => ({
      filter: a.filter ? compileLogFilter(a.filter) : undefined,
      format: compileFormat(a.format),
      sink: sinks.sink(a.path),
    })),
  );
}
