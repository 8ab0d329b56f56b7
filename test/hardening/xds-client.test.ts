import { afterEach, describe, expect, it } from 'vitest';
import { AdsClient } from '../../src/xds/ads-client.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import { XdsTestServer } from '../helpers/xds-server.js';
import { cluster, NODE, RecordingHandler, until } from '../xds/fixtures.js';

const CDS = TYPE_URLS.cluster;
let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(apiType: 'GRPC' | 'DELTA_GRPC'): Promise<{ xds: XdsTestServer; cds: RecordingHandler }> {
  const xds = await XdsTestServer.start();
  cleanup.push(() => xds.close());
  xds.set(CDS, [cluster('a')]);
  const c = new AdsClient({ target: xds.target, node: NODE, apiType });
  cleanup.push(() => c.close());
  const cds = new RecordingHandler();
  c.watch(CDS, cds);
  c.start();
  await until(() => cds.current.has('a'));
  return { xds, cds };
}

describe('xDS client against a hostile or careless control plane', () => {
  it.each([
    ['a name length of 2^32-1 (protobufjs would wrap it)', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41], /resource name length 4294967295 runs past the end/],
    ['a name cut short', [0x0a, 0x05, 0x41], /resource name length 5 runs past the end/],
    ['another field cut short', [0x12, 0x09, 0x41], /index out of range/],
  ])('resource bytes that are not a message (%s): NACKed, the stream and the last good config stay', async (_, bytes, message) => {
    const { xds, cds } = await setup('GRPC');
    const garbage = { type_url: CDS, value: Buffer.from(bytes) };
    const [push] = xds.sendRaw('sotw', { type_url: CDS, version_info: 'bad', resources: [garbage] });
    const nack = await xds.reply(push!);
    expect(nack.errorDetail?.code).toBe(13);
    expect(nack.errorDetail?.message).toMatch(message);
    expect([...cds.current.keys()]).toEqual(['a']);
    const [next] = xds.put(CDS, [cluster('b')]);
    expect((await xds.reply(next!)).errorDetail).toBeUndefined();
  });

  it('a NACK message is cut at 4096 characters, as Envoy cuts it', async () => {
    const { xds, cds } = await setup('DELTA_GRPC');
    cds.refuse = () => 'x'.repeat(10_000);
    const [push] = xds.put(CDS, [cluster('b')]);
    const nack = await xds.reply(push!);
    expect(nack.errorDetail!.message).toBe(`${'x'.repeat(4096)}...(truncated)`);
  });

  it('a response far above grpc-js’s 4 MiB default is received (a large mesh’s CDS)', async () => {
    const { xds, cds } = await setup('DELTA_GRPC');
    const big = Array.from({ length: 600 }, (_, i) => cluster(`outbound|80||svc-${i}.ns.svc.cluster.local`, { alt_stat_name: 'x'.repeat(10_000) }));
    const [push] = xds.put(CDS, big);
    const ack = await xds.reply(push!, 20_000);
    expect(ack.errorDetail).toBeUndefined();
    expect(cds.current.size).toBe(601);
  });
});
