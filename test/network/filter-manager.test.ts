import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ConnectionOwner, NetworkConnection, NetworkFilter, NetworkFilterCallbacks, NetworkFilterCreator, NetworkFilterStatus } from '../../src/network/filter.js';
import { NetworkFilterManager } from '../../src/network/filter-manager.js';
import { ListenerStats } from '../../src/telemetry/stats.js';

/** A connection on an unconnected socket: the manager only destroys it (close) and checks `destroyed`. */
function connection(over: Partial<NetworkConnection> = {}): NetworkConnection {
  return {
    socket: new Socket(),
    listenerName: 'l',
    chainName: 'c',
    sourceAddress: '10.0.0.1',
    destination: { address: '10.0.0.2', port: 80 },
    secure: false,
    ended: false,
    paused: false,
    stats: new ListenerStats(),
    ...over,
  };
}

const owner: ConnectionOwner = { track: () => () => {}, onRequest: () => undefined };

/** A fake filter that records its hooks into `log` and answers with the given statuses. */
function fake(name: string, log: string[], opts: { onNew?: NetworkFilterStatus; onData?: NetworkFilterStatus; hook?: (cb: NetworkFilterCallbacks) => void } = {}): NetworkFilterCreator {
  return (cb) => {
    const f: NetworkFilter = {
      onNewConnection() {
        log.push(`${name}:new`);
        opts.hook?.(cb);
        return opts.onNew ?? 'continue';
      },
    };
    if (opts.onData) {
      f.onData = (data, end) => {
        log.push(`${name}:data:${data.toString()}:${end}`);
        return opts.onData!;
      };
    }
    return f;
  };
}

describe('NetworkFilterManager', () => {
  it('runs the filters in order: each sees the new connection, then the read-ahead bytes; the terminal one only the connection', () => {
    const log: string[] = [];
    const c = connection({ readAhead: Buffer.from('GET'), ended: true });
    new NetworkFilterManager(c, owner, [fake('a', log, { onData: 'continue' }), fake('b', log, { onData: 'continue' }), fake('t', log, { onData: 'continue' })]).start();
    expect(log).toEqual(['a:new', 'a:data:GET:true', 'b:new', 'b:data:GET:true', 't:new']);
  });

  it('a stop on the new connection holds the later filters until continueReading, which may come later', async () => {
    const log: string[] = [];
    let callbacks: NetworkFilterCallbacks | undefined;
    const m = new NetworkFilterManager(connection({ readAhead: Buffer.from('x') }), owner, [
      fake('authz', log, { onNew: 'stop', onData: 'continue', hook: (cb) => (callbacks = cb) }),
      fake('t', log),
    ]);
    m.start();
    expect(log).toEqual(['authz:new']);
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['authz:new']);
    callbacks!.continueReading();
    // the stopped filter gets its turn at the bytes, then the terminal filter runs, once
    expect(log).toEqual(['authz:new', 'authz:data:x:false', 't:new']);
    callbacks!.continueReading();
    expect(log).toEqual(['authz:new', 'authz:data:x:false', 't:new']);
  });

  it('a stop on the read-ahead bytes resumes at the next filter', () => {
    const log: string[] = [];
    let callbacks: NetworkFilterCallbacks | undefined;
    const m = new NetworkFilterManager(connection({ readAhead: Buffer.from('x') }), owner, [fake('a', log, { onData: 'stop', hook: (cb) => (callbacks = cb) }), fake('t', log)]);
    m.start();
    expect(log).toEqual(['a:new', 'a:data:x:false']);
    callbacks!.continueReading();
    expect(log).toEqual(['a:new', 'a:data:x:false', 't:new']);
  });

  it('close on deny destroys the socket and no later filter runs, not even after a continueReading', () => {
    const log: string[] = [];
    const c = connection();
    let callbacks: NetworkFilterCallbacks | undefined;
    const deny = fake('rbac', log, {
      onNew: 'stop',
      hook: (cb) => {
        callbacks = cb;
        cb.close();
      },
    });
    new NetworkFilterManager(c, owner, [deny, fake('t', log)]).start();
    expect(c.socket.destroyed).toBe(true);
    callbacks!.continueReading();
    expect(log).toEqual(['rbac:new']);
  });

  it('a connection the client closed while a filter waited goes no further', () => {
    const log: string[] = [];
    const c = connection();
    let callbacks: NetworkFilterCallbacks | undefined;
    new NetworkFilterManager(c, owner, [fake('authz', log, { onNew: 'stop', hook: (cb) => (callbacks = cb) }), fake('t', log)]).start();
    c.socket.destroy();
    callbacks!.continueReading();
    expect(log).toEqual(['authz:new']);
  });
});
