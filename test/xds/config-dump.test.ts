import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { unpackAny } from '../../src/config/envoy/proto/any.js';
import { AdsClient } from '../../src/xds/ads-client.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import { resourcesFromConfigDump } from '../helpers/config-dump.js';
import { XdsTestServer } from '../helpers/xds-server.js';
import { NODE, RecordingHandler, until } from './fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DUMPS = path.resolve(here, '../../../shared/conformance/istio/config-dumps/istioctl/pkg');

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe("real sidecars' config dumps served over ADS (the resources istiod had pushed them)", () => {
  it('27 listeners (with Istio-only filter types) and 32 ClusterLoadAssignments arrive intact', async () => {
    const listeners = resourcesFromConfigDump(parse(readFileSync(path.join(DUMPS, 'authz/testdata/configdump.yaml'), 'utf8')));
    const endpoints = resourcesFromConfigDump(JSON.parse(readFileSync(path.join(DUMPS, 'writer/envoy/configdump/testdata/endpoint/configdump.json'), 'utf8')));
    const xds = await XdsTestServer.start();
    cleanup.push(() => xds.close());
    xds.set(TYPE_URLS.listener, listeners.get(TYPE_URLS.listener)!);
    const claNames = endpoints.get(TYPE_URLS.endpoint)!.map((r) => r.name);
    xds.set(TYPE_URLS.endpoint, endpoints.get(TYPE_URLS.endpoint)!);

    const c = new AdsClient({ target: xds.target, node: NODE });
    cleanup.push(() => c.close());
    const lds = new RecordingHandler();
    const eds = new RecordingHandler();
    c.watch(TYPE_URLS.listener, lds, { initialFetchTimeoutMs: 0 });
    c.watch(TYPE_URLS.endpoint, eds);
    c.subscribe(TYPE_URLS.endpoint, claNames);
    c.start();
    await until(() => lds.current.size === 27 && eds.current.size === 32, 10_000, 'every resource');

    const inbound = lds.current.get('virtualInbound') as { filter_chains: { filters: { name: string; typed_config?: { type_url: string } }[] }[] };
    expect(inbound).toBeDefined();
    const filters = inbound.filter_chains.flatMap((fc) => fc.filters);
    // Istio's own types travel with their URL for the translator to recognise
    expect(filters.some((f) => f.typed_config?.type_url === 'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange')).toBe(true);
    const hcm = filters.find((f) => f.name === 'envoy.filters.network.http_connection_manager')!.typed_config!;
    expect(unpackAny(hcm as { type_url: string }).known).toBe(true);
    expect(xds.requests.filter((r) => r.errorDetail)).toEqual([]);
  });
});
