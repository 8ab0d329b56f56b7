import type { BodySink, BodySource } from '../codec/body.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { UpstreamError, UpstreamHandler } from '../upstream/exchange.js';
import type { UpstreamHost } from '../upstream/host.js';

/**
 * Envoy's request mirroring: a copy of the request goes to another cluster with `-shadow` added to
 * the host, fire and forget. Its response is read and dropped; its latency and errors never touch
 * the primary request.
 */
export function sendMirror(cluster: ClusterRuntime, method: string, path: string, headers: readonly string[], body: BodySource | null): void {
  const host = cluster.pick();
  if (!host) return;
  const shadowHeaders: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'host') shadowHeaders.push('host', shadowHost(headers[i + 1]));
    else shadowHeaders.push(headers[i], headers[i + 1]);
  }
  const sink = new MirrorResponse(host, cluster);
  host.active++;
  cluster.stats.upstreamRqTotal++;
  cluster.stats.upstreamRqActive++;
  host.pool.request({ method, path, headers: shadowHeaders, body }, sink);
}

/** `reviews:9080` → `reviews-shadow:9080`, as Envoy names the shadow authority. */
export function shadowHost(authority: string): string {
  const m = /^(\[[^\]]+\]|[^:]+)(:\d+)?$/.exec(authority);
  return m ? `${m[1]}-shadow${m[2] ?? ''}` : `${authority}-shadow`;
}

class MirrorResponse implements UpstreamHandler {
  private done = false;
  constructor(
    private readonly host: UpstreamHost,
    private readonly cluster: ClusterRuntime,
  ) {}
  onUpstreamHeaders(status: number): void {
    this.cluster.stats.response(status);
  }
  onUpstreamData(): boolean {
    return true; // read and dropped
  }
  onUpstreamEnd(): void {
    this.finish();
  }
  onUpstreamError(_err: UpstreamError): void {
    this.finish();
  }
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.host.active--;
    this.cluster.stats.upstreamRqActive--;
  }
}

/** A body already in memory (the buffered request body), as a BodySource. */
export class BufferedBody implements BodySource {
  private stopped = false;
  constructor(
    private readonly chunks: readonly Buffer[],
    readonly length: number,
  ) {}
  start(sink: BodySink): void {
    for (const c of this.chunks) {
      if (this.stopped) return;
      sink.onBodyData(c); // a mirror's socket buffers what it cannot send yet; the body is bounded
    }
    if (!this.stopped) sink.onBodyEnd(undefined);
  }
  pause(): void {}
  resume(): void {}
  detach(): void {
    this.stopped = true;
  }
}
