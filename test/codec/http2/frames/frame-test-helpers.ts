// Shared by the frame-layer tests: a handler that records what the reader hands it, and a reader
// run over bytes in any split, returning the events and the connection error (if any).
import { expect } from 'vitest';
import { Http2ConnectionError, Http2StreamError } from '../../../../src/codec/http2/frames/errors.js';
import { FrameReader, type FrameHandler, type FrameReaderOptions } from '../../../../src/codec/http2/frames/reader.js';

export { frame } from '../../../helpers/h2-frames.js';

export type FrameEvent =
  | ['data', number, string, boolean, number]
  | ['headers', number, string, boolean]
  | ['priority', number, number, number, boolean]
  | ['rst', number, number]
  | ['settings', number[]]
  | ['settings-ack']
  | ['push', number, number, string]
  | ['ping', string, boolean]
  | ['goaway', number, number, string]
  | ['window', number, number]
  | ['stream-error', number, number];

/** Records every call as a FrameEvent (payloads as hex, copied at the time of the call). */
export class Recorder implements FrameHandler {
  readonly events: FrameEvent[] = [];
  onData(streamId: number, data: Buffer, endStream: boolean, flowLength: number): void {
    this.events.push(['data', streamId, data.toString('hex'), endStream, flowLength]);
  }
  onHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    this.events.push(['headers', streamId, block.toString('hex'), endStream]);
  }
  onPriority(streamId: number, dependency: number, weight: number, exclusive: boolean): void {
    this.events.push(['priority', streamId, dependency, weight, exclusive]);
  }
  onRstStream(streamId: number, code: number): void {
    this.events.push(['rst', streamId, code]);
  }
  onSettings(entries: readonly number[]): void {
    this.events.push(['settings', [...entries]]);
  }
  onSettingsAck(): void {
    this.events.push(['settings-ack']);
  }
  onPushPromise(streamId: number, promisedStreamId: number, block: Buffer): void {
    this.events.push(['push', streamId, promisedStreamId, block.toString('hex')]);
  }
  onPing(opaque: Buffer, ack: boolean): void {
    this.events.push(['ping', opaque.toString('hex'), ack]);
  }
  onGoaway(lastStreamId: number, code: number, debug: Buffer): void {
    this.events.push(['goaway', lastStreamId, code, debug.toString('latin1')]);
  }
  onWindowUpdate(streamId: number, increment: number): void {
    this.events.push(['window', streamId, increment]);
  }
  onStreamError(error: Http2StreamError): void {
    this.events.push(['stream-error', error.streamId, error.code]);
  }
}

export interface ReadResult {
  events: FrameEvent[];
  error: Http2ConnectionError | undefined;
}

/** Client mode by default, so tests need no preface; a SETTINGS frame opens `bytes` unless `settingsFirst` is false. */
export function read(bytes: Buffer, options: Partial<FrameReaderOptions> = {}, chunkSizes?: readonly number[]): ReadResult {
  const recorder = new Recorder();
  const reader = new FrameReader(recorder, { mode: 'client', ...options });
  let error: Http2ConnectionError | undefined;
  try {
    if (chunkSizes === undefined) reader.feed(bytes);
    else {
      let at = 0;
      for (const n of chunkSizes) {
        reader.feed(bytes.subarray(at, at + n));
        at += n;
      }
      if (at < bytes.length) reader.feed(bytes.subarray(at));
    }
  } catch (err) {
    if (!(err instanceof Http2ConnectionError)) throw err;
    error = err;
  }
  return { events: recorder.events, error };
}

/** `bytes` must fail the connection with `code`. */
export function expectConnectionError(result: ReadResult, code: number): Http2ConnectionError {
  expect(result.error, `events: ${JSON.stringify(result.events)}`).toBeInstanceOf(Http2ConnectionError);
  expect(result.error!.code).toBe(code);
  return result.error!;
}

export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
