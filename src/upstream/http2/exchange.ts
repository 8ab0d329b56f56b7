import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { BodySink, BodySource } from '../../codec/body.js';
import { HTTP2_ERROR_NAMES, UpstreamError, type UpstreamExchange, type UpstreamHandler, type UpstreamRequest } from '../exchange.js';
import { combineDuplicates, requestHeaders, trailerObject, withoutPseudo } from './headers.js';
import type { H2Session } from './session.js';
import { H2_CANCEL, H2_REFUSED_STREAM } from '../../codec/http2/error-codes.js';

const END_STREAM_OPTIONS = { endStream: true } as const;
/** Request trailers are only known when the body ends, so a request with a body always waits for them. */
const BODY_OPTIONS = { endStream: false, waitForTrailers: true } as const;
const NO_TRAILERS: OutgoingHttpHeaders = {};

const kExchange = Symbol('outrigger.h2.exchange');
type TaggedStream = ClientHttp2Stream & { [kExchange]: H2UpstreamExchange };

// Stream listeners shared by every stream (no closures per request): `this` is the stream.
function onStreamResponse(this: TaggedStream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[kExchange].onResponse(headers, raw);
}
function onStreamData(this: TaggedStream, chunk: Buffer): void {
  this[kExchange].onData(chunk);
}
function onStreamTrailers(this: TaggedStream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[kExchange].onTrailers(raw);
}
function onStreamEnd(this: TaggedStream): void {
  this[kExchange].onEnd();
}
function onStreamError(this: TaggedStream, err: Error): void {
  this[kExchange].streamError = err;
}
function onStreamClose(this: TaggedStream): void {
  this[kExchange].onClose();
}
function onStreamDrain(this: TaggedStream): void {
  this[kExchange].onDrain();
}
function onStreamWantTrailers(this: TaggedStream): void {
  this[kExchange].onWantTrailers();
}

/** One request/response on an HTTP/2 stream of a session. It is the exchange handle and the request body's sink. */
export class H2UpstreamExchange implements UpstreamExchange, BodySink {
  private done = false;
  private handler: UpstreamHandler | undefined;
  private stream: TaggedStream | undefined;
  private body: BodySource | null;
  private bodyDone: boolean;
  private requestTrailers: string[] | undefined;
  private responseTrailers: string[] | undefined;
  private headersReceived = false;
  streamError: (Error & { code?: string }) | undefined;

  constructor(
    private readonly session: H2Session,
    req: UpstreamRequest,
    handler: UpstreamHandler,
  ) {
    this.handler = handler;
    this.body = req.body;
    this.bodyDone = req.body === null;
  }

  /** Opens the stream; false if the session went away in this very tick (another one takes the request). */
  open(req: UpstreamRequest): boolean {
    const session = this.session;
    const headers = requestHeaders(req, session.scheme, session.pool.defaultAuthority);
    const options = this.body === null ? END_STREAM_OPTIONS : BODY_OPTIONS;
    let stream: ClientHttp2Stream;
    try {
      stream = session.session!.request(headers, options);
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === 'ERR_HTTP2_HEADER_SINGLE_VALUE') {
        // a field HTTP/2 (node) allows once came twice: combine the values (RFC 9110 §5.3) and retry
        try {
          stream = session.session!.request(combineDuplicates(headers), options);
        } catch (err2) {
          this.failLater(new UpstreamError('protocol_error', (err2 as Error).message, (err2 as { code?: string }).code));
          return true;
        }
      } else if (e.code === 'ERR_HTTP2_GOAWAY_SESSION' || e.code === 'ERR_HTTP2_INVALID_SESSION') {
        return false;
      } else {
        this.failLater(new UpstreamError('protocol_error', e.message, e.code));
        return true;
      }
    }
    const s = stream as TaggedStream;
    s[kExchange] = this;
    this.stream = s;
    s.on('response', onStreamResponse);
    s.on('data', onStreamData);
    s.on('trailers', onStreamTrailers);
    s.on('end', onStreamEnd);
    s.on('error', onStreamError);
    s.on('close', onStreamClose);
    const body = this.body;
    if (body) {
      s.on('drain', onStreamDrain);
      s.on('wantTrailers', onStreamWantTrailers);
      body.start(this);
    }
    return true;
  }

  // ------------------------------------------------------------------ request body (BodySink)

  onBodyData(chunk: Buffer): boolean {
    if (this.done || !this.stream || chunk.length === 0) return true;
    return this.stream.write(chunk);
  }

  onBodyEnd(trailers: string[] | undefined): void {
    this.bodyDone = true;
    this.body = null;
    if (this.done || !this.stream) return;
    this.requestTrailers = trailers && trailers.length ? trailers : undefined;
    this.stream.end();
  }

  onBodyError(err: Error): void {
    // the client's body broke off: the upstream request cannot be completed
    this.body = null;
    this.fail(new UpstreamError(err.name === 'ReplayOverflowError' ? 'request_body_overflow' : 'downstream_body_error', err.message));
  }

  onDrain(): void {
    this.body?.resume();
  }

  onWantTrailers(): void {
    const stream = this.stream;
    if (!stream || stream.destroyed) return;
    try {
      // no trailers: node sends an empty DATA frame with END_STREAM
      stream.sendTrailers(this.requestTrailers ? trailerObject(this.requestTrailers) : NO_TRAILERS);
    } catch (err) {
      // trailers node refuses (an invalid name or value)
      const e = err as Error & { code?: string };
      this.fail(new UpstreamError('protocol_error', e.message, e.code));
    }
  }

  // ------------------------------------------------------------------ response

  onResponse(headers: IncomingHttpHeaders, raw: string[]): void {
    if (this.done) return;
    this.headersReceived = true;
    // RFC 9113 §6.5.2 header list size (name + value + 32 per field), against maxHeaderBytes like H1Pool's head limit
    const maxHeaderBytes = this.session.pool.options.maxHeaderBytes;
    let size = 0;
    for (let i = 0; i < raw.length; i++) size += raw[i].length + 16;
    if (size > maxHeaderBytes) {
      this.headersReceived = false;
      this.fail(new UpstreamError('protocol_error', `response headers exceed ${maxHeaderBytes} bytes`));
      return;
    }
    const status = Number(headers[':status']);
    this.handler?.onUpstreamHeaders(status, withoutPseudo(raw));
  }

  onData(chunk: Buffer): void {
    if (this.done) return;
    if (this.handler && !this.handler.onUpstreamData(chunk)) this.stream!.pause();
  }

  onTrailers(raw: string[]): void {
    if (!this.done) this.responseTrailers = withoutPseudo(raw);
  }

  onEnd(): void {
    if (this.done) return;
    const stream = this.stream!;
    // node ends the readable side of a stream it destroys too (reset, session gone): only an end
    // on a live stream with no reset code is END_STREAM from the server
    if (stream.destroyed || stream.rstCode) return this.onClose();
    if (!this.headersReceived) {
      // RST_STREAM(NO_ERROR) before any response: node ends the readable side
      this.fail(new UpstreamError('reset_before_headers', 'stream closed before response headers', 'NO_ERROR'));
      return;
    }
    const handler = this.handler;
    // the response is complete while the request is not (an early response): the rest is not sent
    if (!this.bodyDone) stream.close(H2_CANCEL);
    this.finish();
    handler?.onUpstreamEnd(this.responseTrailers);
  }

  /** The stream closed (or was destroyed) before the response ended: a reset, before or after the response headers. */
  onClose(): void {
    if (this.done) return;
    const after = this.headersReceived ? 'reset_after_headers' : 'reset_before_headers';
    const code = this.stream!.rstCode;
    if (code !== H2_REFUSED_STREAM && this.session.session?.destroyed) {
      // the connection went away under the stream (Envoy: connection termination), not a RST_STREAM
      // (a stream refused by a GOAWAY stays refused: it is safe to retry)
      const err = this.session.error;
      this.fail(new UpstreamError(after, err?.message ?? 'connection termination', err?.code));
      return;
    }
    const name = code ? (HTTP2_ERROR_NAMES[code] ?? `0x${code.toString(16)}`) : undefined;
    const err = this.streamError;
    const message =
      code === H2_REFUSED_STREAM ? 'stream refused (REFUSED_STREAM, or above the last stream id of a GOAWAY)' : (err?.message ?? `stream reset${name ? ` with ${name}` : ''}`);
    this.fail(new UpstreamError(after, message, name ?? err?.code));
  }

  // ------------------------------------------------------------------ endings

  /** Ends the exchange: its stream goes back to the session, the request body is let go. */
  private finish(): void {
    this.done = true;
    this.handler = undefined;
    const body = this.body;
    if (body) {
      this.body = null;
      body.detach(); // the upstream no longer takes it: the downstream codec discards the rest
    }
    this.session.streamDone();
  }

  /** Fails the exchange: the stream is reset (CANCEL) and the handler hears once. */
  private fail(err: UpstreamError): void {
    if (this.done) return;
    const handler = this.handler;
    const stream = this.stream;
    if (stream && !stream.destroyed) stream.close(H2_CANCEL);
    this.finish();
    handler?.onUpstreamError(err);
  }

  /** A failure found while the caller may still be inside request(): reported on the next microtask. */
  private failLater(err: UpstreamError): void {
    queueMicrotask(() => this.fail(err));
  }

  pause(): void {
    if (!this.done) this.stream?.pause();
  }

  resume(): void {
    if (!this.done) this.stream?.resume();
  }

  abort(): void {
    if (this.done) return;
    this.handler = undefined;
    const stream = this.stream;
    if (stream && !stream.destroyed) stream.close(H2_CANCEL);
    this.finish();
  }
}
