// RFC 9113 §5.1 on the server side: what each frame means in each stream state, and which
// violations end the stream (RST_STREAM) and which the connection (GOAWAY).
import { describe, expect, it } from 'vitest';
import { H2_PROTOCOL_ERROR, H2_STREAM_CLOSED } from '../../../src/codec/http2/error-codes.js';
import { afterReceive, afterSendEnd, isClientStreamId, localClosed, onReceive, remoteClosed, type StreamState } from '../../../src/codec/http2/stream-state.js';

describe('frames received per state', () => {
  it('idle: HEADERS opens the stream; DATA, RST_STREAM and WINDOW_UPDATE are connection errors PROTOCOL_ERROR; PRIORITY is fine', () => {
    expect(onReceive('idle', 'HEADERS', false)).toEqual({ kind: 'accept' });
    for (const f of ['DATA', 'RST_STREAM', 'WINDOW_UPDATE'] as const) expect(onReceive('idle', f, false)).toEqual({ kind: 'connection-error', code: H2_PROTOCOL_ERROR });
    expect(onReceive('idle', 'PRIORITY', false)).toEqual({ kind: 'accept' });
  });

  it('open: DATA, RST_STREAM, WINDOW_UPDATE go; a second HEADERS (trailers) must end the stream or it is a stream error', () => {
    for (const f of ['DATA', 'RST_STREAM', 'WINDOW_UPDATE'] as const) expect(onReceive('open', f, false).kind).toBe('accept');
    expect(onReceive('open', 'HEADERS', true).kind).toBe('accept');
    expect(onReceive('open', 'HEADERS', false)).toEqual({ kind: 'stream-error', code: H2_PROTOCOL_ERROR });
    expect(onReceive('half-closed-local', 'HEADERS', false)).toEqual({ kind: 'stream-error', code: H2_PROTOCOL_ERROR });
    expect(onReceive('half-closed-local', 'DATA', true).kind).toBe('accept');
  });

  it('half-closed (remote): DATA is a stream error STREAM_CLOSED, HEADERS a connection error (nghttp2); WINDOW_UPDATE and RST_STREAM go', () => {
    expect(onReceive('half-closed-remote', 'DATA', false)).toEqual({ kind: 'stream-error', code: H2_STREAM_CLOSED });
    expect(onReceive('half-closed-remote', 'HEADERS', true)).toEqual({ kind: 'connection-error', code: H2_STREAM_CLOSED });
    expect(onReceive('half-closed-remote', 'WINDOW_UPDATE', false).kind).toBe('accept');
    expect(onReceive('half-closed-remote', 'RST_STREAM', false).kind).toBe('accept');
  });

  it('closed (reset here or forgotten): frames still in flight are ignored', () => {
    for (const f of ['HEADERS', 'DATA', 'RST_STREAM', 'WINDOW_UPDATE'] as const) expect(onReceive('closed', f, true)).toEqual({ kind: 'ignore' });
  });
});

describe('transitions', () => {
  const walk = (steps: ('recv' | 'recv-end' | 'send-end')[]): StreamState =>
    steps.reduce<StreamState>((s, step) => (step === 'send-end' ? afterSendEnd(s) : afterReceive(s, step === 'recv-end')), 'idle');

  it('a GET (HEADERS with END_STREAM) is half-closed (remote); the response end closes it', () => {
    expect(walk(['recv-end'])).toBe('half-closed-remote');
    expect(walk(['recv-end', 'send-end'])).toBe('closed');
  });

  it('a POST: open, its last DATA half-closes it; a response ending first leaves it half-closed (local)', () => {
    expect(walk(['recv', 'recv'])).toBe('open');
    expect(walk(['recv', 'recv-end'])).toBe('half-closed-remote');
    expect(walk(['recv', 'send-end'])).toBe('half-closed-local');
    expect(walk(['recv', 'send-end', 'recv-end'])).toBe('closed');
  });

  it('which sides are over', () => {
    expect([remoteClosed('open'), localClosed('open')]).toEqual([false, false]);
    expect([remoteClosed('half-closed-remote'), localClosed('half-closed-remote')]).toEqual([true, false]);
    expect([remoteClosed('half-closed-local'), localClosed('half-closed-local')]).toEqual([false, true]);
    expect([remoteClosed('closed'), localClosed('closed')]).toEqual([true, true]);
  });

  it('client streams are odd', () => {
    expect(isClientStreamId(1)).toBe(true);
    expect(isClientStreamId(2)).toBe(false);
  });
});
