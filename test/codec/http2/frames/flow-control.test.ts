// Flow-control arithmetic (RFC 9113 §6.9): send windows and WINDOW_UPDATE, SETTINGS_INITIAL_WINDOW_SIZE
// changes (negative windows included), receive windows with their WINDOW_UPDATE policy, overruns.
import { describe, expect, it } from 'vitest';
import { H2_FLOW_CONTROL_ERROR } from '../../../../src/codec/http2/error-codes.js';
import { MAX_WINDOW_SIZE } from '../../../../src/codec/http2/frames/constants.js';
import { Http2ConnectionError, Http2StreamError } from '../../../../src/codec/http2/frames/errors.js';
import { applyInitialWindowSize, ReceiveWindow, SendWindow, sendable } from '../../../../src/codec/http2/frames/flow-control.js';

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('send windows', () => {
  it('start at 65,535 and move with what is sent and WINDOW_UPDATE', () => {
    const w = new SendWindow(1);
    expect(w.size).toBe(65_535);
    w.consume(65_535);
    expect(w.size).toBe(0);
    w.increase(100);
    expect(w.size).toBe(100);
  });

  it('up to 2^31-1 exactly; one more is FLOW_CONTROL_ERROR of the stream, or of the connection on stream 0', () => {
    const stream = new SendWindow(3);
    stream.increase(MAX_WINDOW_SIZE - 65_535);
    expect(stream.size).toBe(MAX_WINDOW_SIZE);
    const err = thrown(() => stream.increase(1));
    expect(err).toBeInstanceOf(Http2StreamError);
    expect(err).toMatchObject({ streamId: 3, code: H2_FLOW_CONTROL_ERROR });
    expect(stream.size).toBe(MAX_WINDOW_SIZE);

    const connection = new SendWindow(0);
    const connErr = thrown(() => connection.increase(MAX_WINDOW_SIZE));
    expect(connErr).toBeInstanceOf(Http2ConnectionError);
    expect(connErr).toMatchObject({ code: H2_FLOW_CONTROL_ERROR });
  });

  it('sendable: the smallest of both windows, what waits and one frame, never negative', () => {
    const connection = new SendWindow(0, 10_000);
    const stream = new SendWindow(1, 70_000);
    expect(sendable(connection, stream, 50_000, 16_384)).toBe(10_000);
    expect(sendable(connection, stream, 500, 16_384)).toBe(500);
    connection.increase(90_000);
    expect(sendable(connection, stream, 90_000, 16_384)).toBe(16_384);
    stream.size = -5;
    expect(sendable(connection, stream, 100, 16_384)).toBe(0);
  });
});

describe('SETTINGS_INITIAL_WINDOW_SIZE changes (§6.9.2)', () => {
  it('move every open stream by the difference, not the connection window', () => {
    const streams = [new SendWindow(1, 65_535), new SendWindow(3, 1_000)];
    applyInitialWindowSize(streams, 65_535, 100_000);
    expect(streams.map((s) => s.size)).toEqual([100_000, 35_465]);
  });

  it('a decrease can leave a window negative; sending waits until WINDOW_UPDATEs bring it back', () => {
    const connection = new SendWindow(0, 1_000_000);
    const stream = new SendWindow(1, 65_535);
    stream.consume(60_000); // 5,535 left in flight room
    applyInitialWindowSize([stream], 65_535, 16_384); // -49,151
    expect(stream.size).toBe(5_535 - 49_151);
    expect(sendable(connection, stream, 1_000, 16_384)).toBe(0);
    stream.increase(43_616);
    expect(stream.size).toBe(0);
    expect(sendable(connection, stream, 1_000, 16_384)).toBe(0);
    stream.increase(10);
    expect(sendable(connection, stream, 1_000, 16_384)).toBe(10);
  });

  it('an increase that takes any stream past 2^31-1 is a connection FLOW_CONTROL_ERROR', () => {
    const full = new SendWindow(5, 65_535);
    full.increase(MAX_WINDOW_SIZE - 65_535 - 10);
    const err = thrown(() => applyInitialWindowSize([new SendWindow(1), full], 65_535, 65_546));
    expect(err).toBeInstanceOf(Http2ConnectionError);
    expect(err).toMatchObject({ code: H2_FLOW_CONTROL_ERROR });
    expect(() => applyInitialWindowSize([full], 65_535, 65_545)).not.toThrow();
  });
});

describe('receive windows', () => {
  it('accept DATA up to the window; past it, FLOW_CONTROL_ERROR of the stream or the connection', () => {
    const stream = new ReceiveWindow(1, 100);
    stream.receive(60);
    stream.receive(40);
    expect(stream.available).toBe(0);
    const err = thrown(() => stream.receive(1));
    expect(err).toBeInstanceOf(Http2StreamError);
    expect(err).toMatchObject({ streamId: 1, code: H2_FLOW_CONTROL_ERROR });

    const connection = new ReceiveWindow(0, 100);
    const connErr = thrown(() => connection.receive(101));
    expect(connErr).toBeInstanceOf(Http2ConnectionError);
    expect(connErr).toMatchObject({ code: H2_FLOW_CONTROL_ERROR });
  });

  it('give consumed octets back in one WINDOW_UPDATE once half the window is consumed', () => {
    const w = new ReceiveWindow(1, 65_536);
    w.receive(40_000);
    expect(w.consume(16_384)).toBe(0);
    expect(w.consume(16_383)).toBe(0);
    expect(w.consume(1)).toBe(32_768);
    expect(w.available).toBe(65_536 - 40_000 + 32_768);
    expect(w.consume(7_232)).toBe(0);
  });

  it('a stream window our SETTINGS shrinks can go negative: the peer may have sent on the old size', () => {
    const w = new ReceiveWindow(1, 65_535);
    w.receive(60_000);
    expect(w.resize(16_384)).toBe(0);
    expect(w.available).toBe(5_535 - 49_151);
    expect(() => w.receive(1)).toThrow(Http2StreamError);
  });

  it('a bigger connection window is announced by WINDOW_UPDATE; a smaller one only changes the policy', () => {
    const w = new ReceiveWindow(0);
    expect(w.resize(1_048_576)).toBe(1_048_576 - 65_535);
    expect(w.available).toBe(1_048_576);
    expect(w.resize(65_536)).toBe(0);
    expect(w.available).toBe(1_048_576);
    w.receive(40_000);
    expect(w.consume(40_000)).toBe(40_000);
  });
});
