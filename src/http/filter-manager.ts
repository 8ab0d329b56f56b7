import type {
  BodyData,
  FilterCallbacks,
  FilterDataStatus,
  HeaderMap,
  HttpFilter,
  RequestHeaders,
  ResponseHeaders,
  StreamCallbacks,
} from './filter.js';
import { FilterStatus } from './filter.js';
import { HeaderListMap } from './header-map.js';

/**
 * Envoy's per-stream buffer limit (per_connection_buffer_limit_bytes, 1 MiB): what filters may hold
 * with StopAndBuffer before the request gets 413 and the response 500.
 */
export const STREAM_BUFFER_LIMIT_BYTES = 1024 * 1024;

/** One message part on its way through the filters. */
type Frame =
  | { kind: 'headers'; end: boolean }
  | { kind: 'data'; data: Buffer; end: boolean }
  | { kind: 'trailers'; trailers: HeaderListMap };

/** Where frames go once every filter of a direction passed them. */
export interface DirectionSink {
  headers(end: boolean): void;
  /** False: the receiver is full (the sender is paused until `resume` is called on the manager's host). */
  data(chunk: Buffer, end: boolean): boolean;
  trailers(trailers: string[]): void;
}

/** What the filter manager needs from its stream (ActiveStream). */
export interface FilterManagerHost extends StreamCallbacks {
  readonly request: RequestHeaders;
  /** The stream is over: filters' late continues have no effect. */
  readonly ended: boolean;
  readonly decoded: DirectionSink;
  readonly encoded: DirectionSink;
  /** A filter released held request data: the client may send again. */
  resumeDecoding(): void;
  /** A filter released held response data: the upstream may send again. */
  resumeEncoding(): void;
  /** Filters buffered more than the limit: 413 for the request, 500 (or a reset) for the response. */
  bufferOverflow(direction: 'decode' | 'encode'): void;
}

/** One filter's iteration state in one direction. */
class Gate {
  stopped = false;
  /** Frames that passed this filter's hooks while it was stopped, in order. */
  held: Frame[] | undefined;
  /** Data held without buffering (StopIteration): the sender is paused meanwhile. */
  watermarked = false;
  /** continue* was called from inside the filter's own hook: its stop status is ignored. */
  continueInHook = false;
  inHook = false;

  heldData(): Buffer | undefined {
    if (!this.held) return undefined;
    const chunks: Buffer[] = [];
    for (const f of this.held) if (f.kind === 'data') chunks.push(f.data);
    return chunks.length ? Buffer.concat(chunks) : undefined;
  }
}

/** A filter in the chain, and its callbacks (one per filter and stream, as in Envoy). */
class ActiveFilter implements FilterCallbacks {
  filter!: HttpFilter;
  readonly decode = new Gate();
  readonly encode = new Gate();

  constructor(
    private readonly manager: FilterManager,
    private readonly host: FilterManagerHost,
    private readonly name: string,
  ) {}

  get route() {
    return this.host.route;
  }
  get streamInfo() {
    return this.host.streamInfo;
  }
  get connection() {
    return this.host.connection;
  }
  get requestHeaderList() {
    return this.host.requestHeaderList;
  }
  get metadata() {
    return this.host.metadata;
  }
  sendLocalReply(...args: Parameters<StreamCallbacks['sendLocalReply']>): void {
    this.host.sendLocalReply(...args);
  }
  continueDecoding(): void {
    this.manager.resume(this, 'decode');
  }
  continueEncoding(): void {
    this.manager.resume(this, 'encode');
  }
  decodingBuffer(): Buffer | undefined {
    return this.decode.heldData();
  }
  encodingBuffer(): Buffer | undefined {
    return this.encode.heldData();
  }
  setDecoderBufferLimit(bytes: number): void {
    this.manager.limits.decode = bytes;
  }
  perRouteConfig<T>(): Readonly<T> | undefined {
    return this.host.route?.typedPerFilterConfig?.get(this.name) as T | undefined;
  }
}

/** A filter's constructor as the pipeline compiled it: its Envoy name and the factory's per-stream function. */
export interface FilterFactoryEntry {
  readonly name: string;
  readonly create: (callbacks: FilterCallbacks) => HttpFilter;
  /** The config its factory parsed (what `outrigger explain` hands the factory's explain). */
  readonly config?: unknown;
}

/**
 * Envoy's FilterManager for one stream: the request's headers, data and trailers through the
 * decoder filters in chain order (then the host's decoded sink: the router), the response's
 * through the encoder filters in reverse order (then the client). A hook answers synchronously;
 * StopIteration holds what follows at that filter until it calls continueDecoding() /
 * continueEncoding() (held data pauses the sender); StopAndBuffer holds data without pausing, up
 * to STREAM_BUFFER_LIMIT_BYTES. A filter stopped on headers still sees the data that follows;
 * its Continue from a later hook releases what it held first (Envoy's iteration rules); a filter
 * without that hook holds it until it continues.
 */
export class FilterManager {
  private readonly chain: ActiveFilter[];
  /** Decoder order is chain order; encoders run in reverse. */
  private readonly reversed: ActiveFilter[];
  private responseHeaders: ResponseHeaders | undefined;
  private readonly held = { decode: 0, encode: 0 };
  private paused = { decode: 0, encode: 0 };
  /** The encoder chain was abandoned (an encoder filter answered locally): nothing more goes through it. */
  private encodeAborted = false;
  /** The request was answered locally: nothing more of it goes through the decoders. */
  private decodeAborted = false;
  /** The response entered the encoder filters. */
  encodeStarted = false;
  /** An encoder hook is running (a local reply from it replaces the response being encoded). */
  inEncoderHook = false;
  readonly hasBodyDecoders: boolean;

  /** What StopAndBuffer may hold per direction before the overflow answer. */
  readonly limits: { decode: number; encode: number };

  constructor(
    private readonly host: FilterManagerHost,
    factories: readonly FilterFactoryEntry[],
    limit = STREAM_BUFFER_LIMIT_BYTES,
  ) {
    this.limits = { decode: limit, encode: limit };
    this.chain = factories.map((f) => {
      const active = new ActiveFilter(this, host, f.name);
      active.filter = f.create(active);
      return active;
    });
    this.reversed = [...this.chain].reverse();
    this.hasBodyDecoders = this.chain.some((a) => a.filter.decodeData !== undefined || a.filter.decodeTrailers !== undefined);
  }

  // ------------------------------------------------------------------ entry points

  decodeHeaders(end: boolean): void {
    this.run('decode', { kind: 'headers', end }, 0);
  }

  /** False: hold off the client until the host's resumeDecoding. */
  decodeData(chunk: Buffer, end: boolean): boolean {
    return this.run('decode', { kind: 'data', data: chunk, end }, 0);
  }

  decodeTrailers(trailers: string[]): void {
    this.run('decode', { kind: 'trailers', trailers: new HeaderListMap(trailers) }, 0);
  }

  encodeHeaders(headers: ResponseHeaders, end: boolean): void {
    this.encodeStarted = true;
    this.responseHeaders = headers;
    this.run('encode', { kind: 'headers', end }, 0);
  }

  encodeData(chunk: Buffer, end: boolean): boolean {
    return this.run('encode', { kind: 'data', data: chunk, end }, 0);
  }

  encodeTrailers(trailers: string[]): void {
    this.run('encode', { kind: 'trailers', trailers: new HeaderListMap(trailers) }, 0);
  }

  /** An encoder filter answered locally while the response was being encoded: the rest skips the encoders. */
  abortEncoding(): void {
    this.encodeAborted = true;
  }

  /** The request was answered: what remains of it stops where it is. */
  abortDecoding(): void {
    this.decodeAborted = true;
  }

  get encoding(): boolean {
    return this.encodeStarted && !this.encodeAborted;
  }

  /** The stream is over: every filter hears onDestroy once. */
  destroy(): void {
    for (const a of this.chain) a.filter.onDestroy?.();
  }

  // ------------------------------------------------------------------ iteration

  private order(dir: 'decode' | 'encode'): ActiveFilter[] {
    return dir === 'decode' ? this.chain : this.reversed;
  }

  /** `frame` through the filters from `from` on; the return value is the data backpressure. */
  private run(dir: 'decode' | 'encode', frame: Frame, from: number): boolean {
    const filters = this.order(dir);
    for (let i = from; i < filters.length; i++) {
      if (this.stopped(dir)) return false;
      const active = filters[i];
      const gate = active[dir];
      const status = this.call(active, gate, dir, frame);
      if (this.stopped(dir)) return false;
      if (status === FilterStatus.Continue) {
        if (!gate.stopped) continue;
        if (frame.kind === 'data') {
          // buffered data goes on with this chunk as one (Envoy adds it to the buffer)
          (gate.held ??= []).push(frame);
          this.held[dir] += frame.data.length;
          return this.release(gate, dir, i);
        }
        this.release(gate, dir, i);
        continue;
      }
      gate.stopped = true;
      (gate.held ??= []).push(frame);
      if (frame.kind !== 'data') return true;
      this.held[dir] += frame.data.length;
      if (status === FilterStatus.StopAndBuffer) {
        if (this.held[dir] > this.limits[dir]) {
          this.host.bufferOverflow(dir);
          return false;
        }
        return this.paused[dir] === 0;
      }
      if (!gate.watermarked) {
        gate.watermarked = true;
        this.paused[dir]++;
      }
      return false;
    }
    return this.deliver(dir, frame);
  }

  private stopped(dir: 'decode' | 'encode'): boolean {
    return this.host.ended || (dir === 'decode' ? this.decodeAborted : this.encodeAborted);
  }

  private call(active: ActiveFilter, gate: Gate, dir: 'decode' | 'encode', frame: Frame): FilterDataStatus {
    const f = active.filter;
    gate.inHook = true;
    gate.continueInHook = false;
    const outerEncoderHook = this.inEncoderHook;
    if (dir === 'encode') this.inEncoderHook = true;
    let status: FilterDataStatus | undefined;
    try {
      if (dir === 'decode') {
        if (frame.kind === 'headers') status = f.decodeHeaders?.(this.host.request, frame.end);
        else if (frame.kind === 'data') status = f.decodeData ? this.callData(frame, (d) => f.decodeData!(d, frame.end)) : undefined;
        else status = f.decodeTrailers?.(frame.trailers);
      } else {
        if (frame.kind === 'headers') status = f.encodeHeaders?.(this.responseHeaders!, frame.end);
        else if (frame.kind === 'data') status = f.encodeData ? this.callData(frame, (d) => f.encodeData!(d, frame.end)) : undefined;
        else status = f.encodeTrailers?.(frame.trailers);
      }
    } catch {
      // Envoy's filters do not throw; ours answer 500 rather than leave the stream hanging
      gate.inHook = false;
      this.host.sendLocalReply(500, 'filter error');
      this.inEncoderHook = outerEncoderHook;
      return FilterStatus.StopIteration;
    }
    this.inEncoderHook = outerEncoderHook;
    gate.inHook = false;
    if (gate.continueInHook) return FilterStatus.Continue;
    // a filter without this hook lets frames by, except while it is stopped (an async decision
    // pending on headers): then they wait there, as Envoy's async filters answer for their data
    if (status === undefined) return gate.stopped ? FilterStatus.StopIteration : FilterStatus.Continue;
    return status;
  }

  private callData(frame: { data: Buffer }, hook: (d: BodyData) => FilterDataStatus): FilterDataStatus {
    const body: BodyData = { data: frame.data };
    const status = hook(body);
    frame.data = body.data;
    return status;
  }

  /** What `gate` held goes on past it (data held together travels as one chunk, as Envoy's buffer). */
  private release(gate: Gate, dir: 'decode' | 'encode', index: number): boolean {
    const held = gate.held;
    gate.stopped = false;
    gate.held = undefined;
    if (gate.watermarked) {
      gate.watermarked = false;
      this.paused[dir]--;
    }
    let more = !this.stopped(dir) && this.paused[dir] === 0;
    if (!held) return more;
    for (let k = 0; k < held.length; k++) {
      let frame = held[k];
      if (frame.kind === 'data') {
        const chunks = [frame.data];
        let end = frame.end;
        while (k + 1 < held.length && held[k + 1].kind === 'data') {
          const next = held[++k] as { data: Buffer; end: boolean };
          chunks.push(next.data);
          end = next.end;
        }
        const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        this.held[dir] -= data.length;
        frame = { kind: 'data', data, end };
      }
      more = this.run(dir, frame, index + 1);
    }
    return more;
  }

  /** A filter's continueDecoding() / continueEncoding(): what it held goes on; no effect on an ended stream. */
  resume(active: ActiveFilter, dir: 'decode' | 'encode'): void {
    const gate = active[dir];
    if (gate.inHook) {
      gate.continueInHook = true;
      return;
    }
    if (this.stopped(dir) || !gate.stopped) return;
    this.release(gate, dir, this.order(dir).indexOf(active));
    if (this.paused[dir] === 0 && !this.stopped(dir)) {
      if (dir === 'decode') this.host.resumeDecoding();
      else this.host.resumeEncoding();
    }
  }

  private deliver(dir: 'decode' | 'encode', frame: Frame): boolean {
    const sink = dir === 'decode' ? this.host.decoded : this.host.encoded;
    switch (frame.kind) {
      case 'headers':
        sink.headers(frame.end);
        return true;
      case 'data':
        return sink.data(frame.data, frame.end) && this.paused[dir] === 0;
      case 'trailers':
        sink.trailers(frame.trailers.list);
        return true;
    }
  }
}
