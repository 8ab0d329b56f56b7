import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdsClient, type AdsApiType } from '../../src/xds/ads-client.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import { XdsTestServer } from '../helpers/xds-server.js';
import { assignment, cluster, listener, NODE, RecordingHandler, routeConfig, until } from './fixtures.js';

const { listener: LDS, cluster: CDS, route: RDS, endpoint: EDS } = TYPE_URLS;

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function serve(address?: { unix: string }): Promise<XdsTestServer> {
  const xds = await XdsTestServer.start(address);
  cleanup.push(() => xds.close());
  return xds;
}

function client(xds: XdsTestServer, apiType: AdsApiType, extra: Partial<ConstructorParameters<typeof AdsClient>[0]> = {}): AdsClient {
  const c = new AdsClient({ target: xds.target, node: NODE, apiType, retryBaseMs: 20, retryMaxMs: 200, ...extra });
  cleanup.push(() => c.close());
  return c;
}

describe.each<AdsApiType>(['DELTA_GRPC', 'GRPC'])('ADS %s against a real gRPC server', (apiType) => {
  const delta = apiType === 'DELTA_GRPC';
  const kind = delta ? 'delta' : 'sotw';

  it('fetches CDS and LDS as wildcards, node on the first message only, ACKs with the nonce (and version)', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('outbound|80||a.default.svc.cluster.local'), cluster('outbound|80||b.default.svc.cluster.local')]);
    xds.set(LDS, [listener('virtualOutbound', 15001)]);
    const c = client(xds, apiType);
    const cds = new RecordingHandler();
    const lds = new RecordingHandler();
    const cdsStats = c.watch(CDS, cds, { initialFetchTimeoutMs: 0 });
    c.watch(LDS, lds, { initialFetchTimeoutMs: 0 });
    const connected = new Promise<void>((r) => c.once('connected', r));
    c.start();
    await connected;
    const cdsAck = await xds.waitForRequest((r) => r.typeUrl === CDS && r.nonce !== '');
    await xds.waitForRequest((r) => r.typeUrl === LDS && r.nonce !== '');

    const first = xds.requests.filter((r) => r.kind === kind);
    expect(first[0]!.typeUrl).toBe(CDS); // in subscription order
    expect(first[0]!.node).toMatchObject({ id: NODE.id, cluster: NODE.cluster, metadata: NODE.metadata });
    expect(first.slice(1).every((r) => r.node === undefined)).toBe(true);
    // wildcard: no names at all (legacy wildcard), no nonce on the initial request
    expect(first[0]).toMatchObject({ nonce: '', names: [], subscribe: [], unsubscribe: [] });

    const cdsPush = xds.pushes.find((p) => p.typeUrl === CDS)!;
    expect(cdsAck.nonce).toBe(cdsPush.nonce);
    expect(cdsAck.errorDetail).toBeUndefined();
    if (!delta) expect(cdsAck.versionInfo).toBe(cdsPush.version);
    expect([...cds.current.keys()].sort()).toEqual(['outbound|80||a.default.svc.cluster.local', 'outbound|80||b.default.svc.cluster.local']);
    expect(lds.current.get('virtualOutbound')).toMatchObject({ address: { socket_address: { port_value: 15001 } } });
    expect(cdsStats).toMatchObject({ update_success: 1, update_rejected: 0, version_text: cdsPush.version });
    expect(c.controlPlane.connected_state).toBe(1);
  });

  it('subscribes RDS/EDS by name, follows subscription changes, and gets only what it asked for', async () => {
    const xds = await serve();
    xds.set(EDS, [assignment('a', '10.0.0.1'), assignment('b', '10.0.0.2'), assignment('c', '10.0.0.3')]);
    const c = client(xds, apiType);
    const eds = new RecordingHandler();
    c.watch(EDS, eds);
    c.start();
    c.subscribe(EDS, ['a', 'b']);
    await until(() => eds.current.size === 2, 5000, 'a and b');
    const first = await xds.waitForRequest((r) => r.typeUrl === EDS);
    await xds.reply(xds.pushes.find((p) => p.typeUrl === EDS)!); // its ACK is in before the change
    if (delta) expect(first.subscribe.sort()).toEqual(['a', 'b']);
    else expect(first.names.sort()).toEqual(['a', 'b']);

    const mark = xds.requests.length;
    c.subscribe(EDS, ['b', 'c']);
    await until(() => eds.current.has('c'), 5000, 'c');
    const change = await xds.waitForRequest((r) => r.typeUrl === EDS && (r.subscribe.length > 0 || r.names.length > 0), { since: mark });
    if (delta) {
      // a change of subscription goes alone, without a nonce (istiod: a nonce means ACK)
      expect(change).toMatchObject({ subscribe: ['c'], unsubscribe: ['a'], nonce: '' });
    } else {
      expect(change.names.sort()).toEqual(['b', 'c']);
      expect(change.nonce).not.toBe(''); // the last nonce seen, and the version last accepted
      expect(change.versionInfo).toBe(xds.pushes.filter((p) => p.typeUrl === EDS)[0]!.version);
    }
    expect(c.names(EDS)).toEqual(new Set(['b', 'c']));
  });

  it('NACKs a rejected update with error_detail (and the previous version); the last good config stays', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('good')]);
    const c = client(xds, apiType);
    const cds = new RecordingHandler();
    const stats = c.watch(CDS, cds);
    c.start();
    await until(() => cds.current.has('good'));
    const goodVersion = stats.version_text;
    cds.refuse = (u) => (u.updated.some((r) => r.name === 'bad') ? 'cluster bad: unsupported lb_policy' : undefined);
    const rejected = new Promise<string>((r) => c.once('rejected', (_t, _n, e) => r(e.message)));
    const [push] = xds.put(CDS, [cluster('bad')]);
    const nack = await xds.reply(push!);
    expect(nack.errorDetail).toEqual({ code: 13, message: 'cluster bad: unsupported lb_policy' });
    if (!delta) expect(nack.versionInfo).toBe(goodVersion);
    expect(await rejected).toBe('cluster bad: unsupported lb_policy');
    expect([...cds.current.keys()]).toEqual(['good']);
    expect(stats).toMatchObject({ update_success: 1, update_rejected: 1, version_text: goodVersion });

    // the next good push is taken and ACKed
    cds.refuse = undefined;
    const [fix] = xds.set(CDS, [cluster('good'), cluster('fixed')]);
    const ack = await xds.reply(fix!);
    expect(ack.errorDetail).toBeUndefined();
    if (!delta) expect(ack.versionInfo).toBe(fix!.version);
    expect(cds.current.has('fixed')).toBe(true);
  });

  it('a resource whose Any type differs from the response type is NACKed', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a')]);
    const c = client(xds, apiType);
    const cds = new RecordingHandler();
    c.watch(CDS, cds);
    c.start();
    await until(() => cds.current.has('a'));
    const wrong = { type_url: LDS, value: Buffer.from([0x0a, 0x01, 0x78]) }; // a Listener named "x"
    const [push] = delta
      ? xds.sendRaw('delta', { type_url: CDS, system_version_info: 'v9', resources: [{ name: 'x', version: '9', resource: wrong }] })
      : xds.sendRaw('sotw', { type_url: CDS, version_info: 'v9', resources: [wrong] });
    const nack = await xds.reply(push!);
    expect(nack.errorDetail?.message).toContain(`type URL ${LDS} embedded in an individual Any does not match the message-wide type URL ${CDS}`);
    expect(cds.updates).toHaveLength(1); // the handler never saw it
  });

  it('removes: delta removed_resources; state of the world: absence of a Listener/Cluster, but not of an EDS resource', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a'), cluster('b')]);
    xds.set(EDS, [assignment('a', '10.0.0.1'), assignment('b', '10.0.0.2')]);
    const c = client(xds, apiType);
    const cds = new RecordingHandler();
    const eds = new RecordingHandler();
    c.watch(CDS, cds);
    const edsStats = c.watch(EDS, eds);
    c.subscribe(EDS, ['a', 'b']);
    c.start();
    await until(() => cds.current.size === 2 && eds.current.size === 2, 5000, 'both types');
    expect(edsStats.update_empty).toBe(0);

    const [push] = xds.remove(CDS, ['b']);
    await xds.reply(push!);
    expect([...cds.current.keys()]).toEqual(['a']);
    expect(cds.updates.at(-1)!.removed).toEqual(['b']);
    if (!delta) expect(cds.updates.at(-1)!.all!.map((r) => r.name)).toEqual(['a']);

    // an EDS resource gone from the server
    const [edsPush] = xds.remove(EDS, ['b']);
    await xds.reply(edsPush!);
    if (delta) {
      expect(eds.current.has('b')).toBe(false);
      expect(edsStats.update_empty).toBe(1); // a removal only: no resource handed over
    } else {
      expect(eds.current.has('b')).toBe(true); // absence means nothing for a named type; it goes when unsubscribed
    }
  });

  it('reconnects with backoff after the server restarts, resubscribes, and restates what it holds', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xds-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const xds = await serve({ unix: path.join(dir, 'XDS') });
    xds.set(CDS, [cluster('a')]);
    xds.set(EDS, [assignment('a', '10.0.0.1')]);
    const c = client(xds, apiType);
    const cds = new RecordingHandler();
    const eds = new RecordingHandler();
    const cdsStats = c.watch(CDS, cds);
    c.watch(EDS, eds);
    c.subscribe(EDS, ['a']);
    const states: string[] = [];
    c.on('connected', () => states.push('up'));
    c.on('disconnected', () => states.push('down'));
    const delays: number[] = [];
    c.on('reconnecting', (ms) => delays.push(ms));
    c.start();
    await until(() => eds.current.has('a') && cds.current.has('a'), 5000, 'first fetch');
    const firstStream = xds.requests[0]!.stream;

    await xds.stop();
    await until(() => states.includes('down'), 5000, 'the disconnect');
    expect(c.controlPlane.connected_state).toBe(0);
    await new Promise((r) => setTimeout(r, 300)); // a few failed attempts against no server
    const mark = xds.requests.length;
    xds.set(EDS, [assignment('a', '10.0.0.9')]); // changed while the client was away
    await xds.restart();
    const again = await xds.waitForRequest((r) => r.typeUrl === CDS && r.stream !== firstStream, { since: mark });
    await until(() => (eds.current.get('a') as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] } | undefined)?.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.address === '10.0.0.9', 5000, 'the new endpoint');

    expect(states).toEqual(['up', 'down', 'up']);
    expect(delays.length).toBeGreaterThanOrEqual(2);
    expect(delays.every((d, i) => d <= Math.min(20 * 2 ** i, 200))).toBe(true);
    expect(again.node).toMatchObject({ id: NODE.id }); // the node again on the new stream's first message
    const edsAgain = await xds.waitForRequest((r) => r.typeUrl === EDS && r.stream === again.stream);
    if (delta) {
      expect(again).toMatchObject({ subscribe: [], initialResourceVersions: { a: expect.any(String) } });
      expect(edsAgain).toMatchObject({ subscribe: ['a'], initialResourceVersions: { a: expect.any(String) }, nonce: '' });
    } else {
      expect(again).toMatchObject({ names: [], nonce: '', versionInfo: cdsStats.version_text });
      expect(edsAgain).toMatchObject({ names: ['a'], nonce: '' });
    }
    expect(cdsStats.update_failure).toBeGreaterThanOrEqual(1);
  });
});

describe('AdsClient details', () => {
  it('initial_fetch_timeout: counted, the handler told, and a late response still taken; 0 waits forever', async () => {
    const xds = await serve();
    const c = client(xds, 'DELTA_GRPC');
    const eds = new RecordingHandler();
    const lds = new RecordingHandler();
    const edsStats = c.watch(EDS, eds, { initialFetchTimeoutMs: 100 });
    const ldsStats = c.watch(LDS, lds, { initialFetchTimeoutMs: 0 });
    c.subscribe(EDS, ['missing']);
    const timedOut = new Promise<string>((r) => c.once('initialFetchTimeout', r));
    c.start();
    expect(await timedOut).toBe(EDS);
    expect(eds.timeouts).toBe(1);
    expect(edsStats.init_fetch_timeout).toBe(1);
    expect(ldsStats.init_fetch_timeout).toBe(0);
    xds.put(EDS, [assignment('missing', '10.0.0.1')]);
    await until(() => eds.current.has('missing'));
    expect(edsStats.update_success).toBe(1);
  });

  it('a type watched later (LDS after CDS, as Envoy starts) is asked for on the open stream, without the node', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a')]);
    xds.set(LDS, [listener('virtualInbound', 15006)]);
    const c = client(xds, 'DELTA_GRPC');
    const cds = new RecordingHandler();
    const lds = new RecordingHandler();
    c.watch(CDS, { onUpdate: (u) => { cds.onUpdate(u); if (!c.stats(LDS)) c.watch(LDS, lds, { initialFetchTimeoutMs: 0 }); } });
    c.start();
    await until(() => lds.current.has('virtualInbound'), 5000, 'LDS');
    await xds.waitForRequest((r) => r.typeUrl === LDS && r.nonce !== '');
    const kinds = xds.requests.map((r) => `${r.typeUrl === CDS ? 'CDS' : 'LDS'}${r.nonce ? ' ack' : ''}${r.node ? ' +node' : ''}`);
    expect(kinds).toEqual(['CDS +node', 'CDS ack', 'LDS', 'LDS ack']);
  });

  it('with set_node_on_first_message_only false, every request carries the node', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a')]);
    const c = client(xds, 'GRPC', { setNodeOnFirstMessageOnly: false });
    const cds = new RecordingHandler();
    c.watch(CDS, cds);
    c.start();
    const ack = await xds.waitForRequest((r) => r.nonce !== '');
    expect(ack.node).toMatchObject({ id: NODE.id });
  });

  it('an async handler: responses are handled one at a time, in order, and each ACK waits for its handler', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a')]);
    const c = client(xds, 'DELTA_GRPC');
    const seen: string[] = [];
    let release: (() => void) | undefined;
    c.watch(CDS, {
      onUpdate: async (u) => {
        seen.push(`start ${u.systemVersion}`);
        if (u.systemVersion === '2') await new Promise<void>((r) => (release = r));
        seen.push(`end ${u.systemVersion}`);
      },
    });
    c.start();
    await xds.reply(xds.pushes[0] ?? (await until(() => xds.pushes[0])));
    const [p2] = xds.put(CDS, [cluster('b')]);
    const [p3] = xds.put(CDS, [cluster('c')]);
    await until(() => release, 5000, 'the slow handler');
    await new Promise((r) => setTimeout(r, 50));
    expect(xds.requests.some((r) => r.nonce === p2!.nonce)).toBe(false); // not ACKed while in the handler
    release!();
    await xds.reply(p2!);
    await xds.reply(p3!);
    expect(seen).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('a subscription change queued behind a handler while the stream is replaced goes out as part of the new stream’s initial request', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a')]);
    xds.set(EDS, [assignment('a', '10.0.0.1'), assignment('b', '10.0.0.2')]);
    const c = client(xds, 'DELTA_GRPC');
    let release: (() => void) | undefined;
    c.watch(CDS, { onUpdate: async (u) => { if (u.updated.some((r) => r.name === 'slow')) await new Promise<void>((r) => (release = r)); } });
    c.watch(EDS, new RecordingHandler());
    c.subscribe(EDS, ['a']);
    c.start();
    await xds.waitForRequest((r) => r.typeUrl === EDS && r.nonce !== '');
    xds.put(CDS, [cluster('slow')]);
    await until(() => release, 5000, 'the slow handler');
    c.subscribe(EDS, ['a', 'b']); // queued behind the handler
    const reopened = new Promise<void>((r) => c.once('reconnecting', () => setTimeout(r, 100)));
    xds.closeStreams();
    await reopened; // the new stream is open; the handler still holds the queue
    release!();
    const firstStream = xds.requests[0]!.stream;
    const edsAgain = await xds.waitForRequest((r) => r.typeUrl === EDS && r.stream !== firstStream);
    expect(edsAgain.subscribe.sort()).toEqual(['a', 'b']);
    expect(edsAgain.initialResourceVersions).toEqual({ a: expect.any(String) });
  });

  it('the server closing the stream (UNAVAILABLE) makes the client reconnect and resubscribe', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a')]);
    const c = client(xds, 'DELTA_GRPC');
    const cds = new RecordingHandler();
    const stats = c.watch(CDS, cds);
    const down = new Promise<{ code: number; details: string }>((r) => c.once('disconnected', r));
    c.start();
    await until(() => cds.current.has('a'));
    const firstStream = xds.requests[0]!.stream;
    xds.closeStreams();
    expect(await down).toMatchObject({ code: 14, details: 'closed by the test server' });
    const again = await xds.waitForRequest((r) => r.stream !== firstStream);
    expect(again).toMatchObject({ typeUrl: CDS, initialResourceVersions: { a: '1' } });
    expect(stats.update_failure).toBe(1);
  });

  it('a response for a type nobody watches is ignored (no ACK, no NACK)', async () => {
    const xds = await serve();
    xds.set(CDS, [cluster('a')]);
    const c = client(xds, 'GRPC');
    const cds = new RecordingHandler();
    c.watch(CDS, cds);
    c.start();
    await until(() => cds.current.has('a'));
    const [push] = xds.sendRaw('sotw', { type_url: RDS, version_info: '1', resources: [] });
    await expect(xds.reply(push!, 300)).rejects.toThrow(/timed out/);
  });
});
