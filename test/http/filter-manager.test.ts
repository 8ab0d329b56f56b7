// The filter manager (Envoy's FilterManager) on its own: iteration order, StopIteration and
// continueDecoding / continueEncoding, data reaching a filter stopped on headers, StopAndBuffer
// under and over the limit, watermark backpressure, trailers, continues after the stream ended,
// a continue from inside a hook, onDestroy.
import { describe, expect, it } from 'vitest';
import { FilterManager, type FilterManagerHost } from '../../src/http/filter-manager.js';
import type { BodyData, FilterCallbacks, HttpFilter } from '../../src/http/filter.js';
import { RequestHeaderMap, ResponseHeaderMap } from '../../src/http/header-map.js';

type Status = 'continue' | 'stop_iteration' | 'stop_and_buffer';

/** A host recording what left each direction, in order. */
function fakeHost(opts: { decodedDataFull?: boolean } = {}) {
  const events: string[] = [];
  const host = {
    ended: false as boolean,
    request: new RequestHeaderMap('POST', '/p', 'a', ['x', '1']),
    route: undefined,
    streamInfo: { startTimeMs: 0, responseFlags: [], downstreamRemoteAddress: '127.0.0.1' },
    connection: { remoteAddress: '127.0.0.1', remotePort: 1, scheme: 'http', protocol: 'HTTP/1.1', localAddress: '127.0.0.1', localPort: 2 },
    requestHeaderList: [],
    metadata: {},
    sendLocalReply: (status: number) => void events.push(`local ${status}`),
    decoded: {
      headers: (end: boolean) => void events.push(`up headers end=${end}`),
      data: (chunk: Buffer, end: boolean) => {
        events.push(`up data "${chunk.toString()}" end=${end}`);
        return !opts.decodedDataFull;
      },
      trailers: (t: string[]) => void events.push(`up trailers ${t.join('=')}`),
    },
    encoded: {
      headers: (end: boolean) => void events.push(`down headers end=${end}`),
      data: (chunk: Buffer, end: boolean) => {
        events.push(`down data "${chunk.toString()}" end=${end}`);
        return true;
      },
      trailers: (t: string[]) => void events.push(`down trailers ${t.join('=')}`),
    },
    resumeDecoding: () => void events.push('resume decoding'),
    resumeEncoding: () => void events.push('resume encoding'),
    bufferOverflow: (d: 'decode' | 'encode') => void events.push(`overflow ${d}`),
  } satisfies FilterManagerHost;
  return { host, events };
}

/** A filter whose hooks log and answer from a script (default: continue). */
function scripted(name: string, events: string[], script: Partial<Record<keyof HttpFilter, Status | ((d?: BodyData) => Status)>> = {}) {
  let callbacks!: FilterCallbacks;
  const answer = (hook: keyof HttpFilter, d?: BodyData): Status => {
    const s = script[hook];
    return typeof s === 'function' ? s(d) : (s ?? 'continue');
  };
  const filter = {
    decodeHeaders: () => (events.push(`${name}.decodeHeaders`), answer('decodeHeaders')),
    decodeData: (d, end) => (events.push(`${name}.decodeData "${d.data.toString()}" end=${end}`), answer('decodeData', d)),
    decodeTrailers: () => (events.push(`${name}.decodeTrailers`), answer('decodeTrailers')),
    encodeHeaders: () => (events.push(`${name}.encodeHeaders`), answer('encodeHeaders')),
    encodeData: (d, end) => (events.push(`${name}.encodeData "${d.data.toString()}" end=${end}`), answer('encodeData', d)),
    encodeTrailers: () => (events.push(`${name}.encodeTrailers`), answer('encodeTrailers')),
    onDestroy: () => void events.push(`${name}.onDestroy`),
  } as HttpFilter;
  return {
    entry: { name, create: (cb: FilterCallbacks) => ((callbacks = cb), filter) },
    get callbacks() {
      return callbacks;
    },
  };
}

const b = (s: string) => Buffer.from(s);

describe('decoding: order, stop and resume', () => {
  it('all continue: headers, data, end through A then B, then the router', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events);
    const c = scripted('B', events);
    const fm = new FilterManager(host, [a.entry, c.entry]);
    fm.decodeHeaders(false);
    expect(fm.decodeData(b('x'), false)).toBe(true);
    fm.decodeData(b(''), true);
    expect(events).toEqual([
      'A.decodeHeaders', 'B.decodeHeaders', 'up headers end=false',
      'A.decodeData "x" end=false', 'B.decodeData "x" end=false', 'up data "x" end=false',
      'A.decodeData "" end=true', 'B.decodeData "" end=true', 'up data "" end=true',
    ]);
  });

  it('StopIteration on headers: B waits; data still reaches A (held there, sender paused); continueDecoding releases headers then data in order', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { decodeHeaders: 'stop_iteration', decodeData: 'stop_iteration' });
    const c = scripted('B', events);
    const fm = new FilterManager(host, [a.entry, c.entry]);
    fm.decodeHeaders(false);
    expect(fm.decodeData(b('one'), false)).toBe(false); // held without buffering: the client pauses
    expect(events).toEqual(['A.decodeHeaders', 'A.decodeData "one" end=false']);
    events.length = 0;
    a.callbacks.continueDecoding();
    expect(events).toEqual(['B.decodeHeaders', 'up headers end=false', 'B.decodeData "one" end=false', 'up data "one" end=false', 'resume decoding']);
  });

  it("a Continue from a later hook of a stopped filter releases what it held first (Envoy's rule)", () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { decodeHeaders: 'stop_iteration' });
    const fm = new FilterManager(host, [a.entry]);
    fm.decodeHeaders(false);
    expect(events).toEqual(['A.decodeHeaders']);
    fm.decodeData(b('d'), true);
    expect(events).toEqual(['A.decodeHeaders', 'A.decodeData "d" end=true', 'up headers end=false', 'up data "d" end=true']);
  });

  it('a filter without a data hook, stopped on headers (an async decision), holds the data until it continues', () => {
    const { host, events } = fakeHost();
    let callbacks!: FilterCallbacks;
    const waiting = { name: 'W', create: (cb: FilterCallbacks): HttpFilter => ((callbacks = cb), { decodeHeaders: () => 'stop_iteration' }) };
    const fm = new FilterManager(host, [waiting, scripted('B', events).entry]);
    fm.decodeHeaders(false);
    expect(fm.decodeData(b('body'), true)).toBe(false);
    expect(events).toEqual([]);
    callbacks.continueDecoding();
    expect(events).toEqual(['B.decodeHeaders', 'up headers end=false', 'B.decodeData "body" end=true', 'up data "body" end=true', 'resume decoding']);
  });

  it('continueDecoding called inside the hook that then returns StopIteration: iteration goes on', () => {
    const { host, events } = fakeHost();
    let a!: ReturnType<typeof scripted>;
    a = scripted('A', events, {
      decodeHeaders: () => {
        a.callbacks.continueDecoding();
        return 'stop_iteration';
      },
    });
    const fm = new FilterManager(host, [a.entry]);
    fm.decodeHeaders(true);
    expect(events).toEqual(['A.decodeHeaders', 'up headers end=true']);
  });

  it('continueDecoding when the filter is not stopped does nothing', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events);
    const fm = new FilterManager(host, [a.entry]);
    fm.decodeHeaders(true);
    a.callbacks.continueDecoding();
    expect(events).toEqual(['A.decodeHeaders', 'up headers end=true']);
  });

  it('an async continue after the stream ended (the client went away) has no effect', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { decodeHeaders: 'stop_iteration' });
    const fm = new FilterManager(host, [a.entry]);
    fm.decodeHeaders(true);
    host.ended = true;
    fm.destroy();
    a.callbacks.continueDecoding();
    expect(events).toEqual(['A.decodeHeaders', 'A.onDestroy']);
  });

  it('after abortDecoding (a local reply) nothing more of the request moves', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { decodeHeaders: 'stop_iteration' });
    const fm = new FilterManager(host, [a.entry]);
    fm.decodeHeaders(false);
    fm.abortDecoding();
    expect(fm.decodeData(b('x'), true)).toBe(false);
    a.callbacks.continueDecoding();
    expect(events).toEqual(['A.decodeHeaders']);
  });

  it('a filter that throws gets the stream a 500 local reply', () => {
    const { host, events } = fakeHost();
    const fm = new FilterManager(host, [{ name: 'T', create: () => ({ decodeHeaders: () => { throw new Error('boom'); } }) }]);
    fm.decodeHeaders(true);
    expect(events).toEqual(['local 500']);
  });
});

describe('data: rewriting, StopAndBuffer and the limit', () => {
  it('a filter rewrites a chunk by assigning data: the next filters and the router see the new bytes', () => {
    const { host, events } = fakeHost();
    const up = scripted('U', events, { decodeData: (d) => ((d!.data = b(d!.data.toString().toUpperCase())), 'continue') });
    const next = scripted('N', events);
    const fm = new FilterManager(host, [up.entry, next.entry]);
    fm.decodeHeaders(false);
    fm.decodeData(b('abc'), true);
    expect(events.slice(-2)).toEqual(['N.decodeData "ABC" end=true', 'up data "ABC" end=true']);
  });

  it('StopAndBuffer under the limit: the sender keeps going; on Continue the buffer goes on as one chunk with the last', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { decodeData: () => (events.at(-1)!.endsWith('end=true') ? 'continue' : 'stop_and_buffer') });
    const fm = new FilterManager(host, [a.entry], 10);
    fm.decodeHeaders(false);
    expect(fm.decodeData(b('abc'), false)).toBe(true);
    expect(a.callbacks.decodingBuffer()?.toString()).toBe('abc');
    expect(fm.decodeData(b('def'), false)).toBe(true);
    expect(a.callbacks.decodingBuffer()?.toString()).toBe('abcdef');
    fm.decodeData(b('g'), true);
    expect(events.filter((e) => e.startsWith('up data'))).toEqual(['up data "abcdefg" end=true']);
    expect(a.callbacks.decodingBuffer()).toBeUndefined();
  });

  it('StopAndBuffer over the limit: the host hears the overflow (413 for a request)', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { decodeData: 'stop_and_buffer' });
    const fm = new FilterManager(host, [a.entry], 10);
    fm.decodeHeaders(false);
    expect(fm.decodeData(b('0123456789'), false)).toBe(true); // exactly the limit: fine
    expect(events).not.toContain('overflow decode');
    expect(fm.decodeData(b('x'), false)).toBe(false);
    expect(events.at(-1)).toBe('overflow decode');
  });

  it('setDecoderBufferLimit raises the request limit (ext_authz with a larger maxRequestBytes)', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { decodeData: 'stop_and_buffer' });
    const fm = new FilterManager(host, [a.entry], 4);
    a.callbacks.setDecoderBufferLimit(8);
    fm.decodeHeaders(false);
    fm.decodeData(b('12345678'), false);
    expect(events).not.toContain('overflow decode');
    fm.decodeData(b('9'), false);
    expect(events.at(-1)).toBe('overflow decode');
  });

  it('encoder StopAndBuffer over the limit: overflow encode (500, or a reset once the response started)', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events, { encodeData: 'stop_and_buffer' });
    const fm = new FilterManager(host, [a.entry], 4);
    fm.encodeHeaders(new ResponseHeaderMap(200, []), false);
    fm.encodeData(b('12345'), false);
    expect(events.at(-1)).toBe('overflow encode');
  });

  it("the router's backpressure reaches the sender", () => {
    const { host } = fakeHost({ decodedDataFull: true });
    const fm = new FilterManager(host, [scripted('A', []).entry]);
    fm.decodeHeaders(false);
    expect(fm.decodeData(b('x'), false)).toBe(false);
  });
});

describe('trailers', () => {
  it('decodeTrailers after data, through every filter; a filter stopped on trailers holds them until it continues', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events);
    const c = scripted('B', events, { decodeTrailers: 'stop_iteration' });
    const fm = new FilterManager(host, [a.entry, c.entry]);
    fm.decodeHeaders(false);
    fm.decodeData(b('x'), false);
    fm.decodeTrailers(['grpc-status', '0']);
    expect(events.slice(-2)).toEqual(['A.decodeTrailers', 'B.decodeTrailers']);
    c.callbacks.continueDecoding();
    expect(events.at(-2)).toBe('up trailers grpc-status=0');
  });

  it('a filter edits the trailers', () => {
    const { host, events } = fakeHost();
    const fm = new FilterManager(host, [{ name: 'T', create: () => ({ encodeTrailers: (t) => (t.set('x-t', '1'), 'continue') }) }]);
    fm.encodeHeaders(new ResponseHeaderMap(200, []), false);
    fm.encodeTrailers(['grpc-status', '0']);
    expect(events.at(-1)).toBe('down trailers grpc-status=0=x-t=1');
  });
});

describe('encoding', () => {
  it('encoder filters run in reverse chain order; a stop on headers holds data until continueEncoding', () => {
    const { host, events } = fakeHost();
    const a = scripted('A', events);
    const c = scripted('B', events, { encodeHeaders: 'stop_iteration', encodeData: 'stop_iteration' });
    const fm = new FilterManager(host, [a.entry, c.entry]);
    fm.encodeHeaders(new ResponseHeaderMap(200, []), false);
    expect(fm.encodeData(b('r'), true)).toBe(false);
    expect(events).toEqual(['B.encodeHeaders', 'B.encodeData "r" end=true']);
    events.length = 0;
    c.callbacks.continueEncoding();
    expect(events).toEqual(['A.encodeHeaders', 'down headers end=false', 'A.encodeData "r" end=true', 'down data "r" end=true', 'resume encoding']);
  });

  it('onDestroy reaches every filter once, on destroy', () => {
    const { host, events } = fakeHost();
    const fm = new FilterManager(host, [scripted('A', events).entry, scripted('B', events).entry]);
    fm.destroy();
    expect(events).toEqual(['A.onDestroy', 'B.onDestroy']);
  });
});
