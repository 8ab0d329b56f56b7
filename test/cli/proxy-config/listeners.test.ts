import { describe, expect, it } from 'vitest';
import { ProxyConfigError, writeListenerDump, writeListenerSummary, type ConfigDump } from '../../../src/cli/proxy-config/index.js';
import { istioctlDump } from './fixtures.js';

const tcp = (cluster: string) => ({
  name: 'envoy.filters.network.tcp_proxy',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: cluster, cluster },
});
const hcm = (config: object) => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: 'inbound_0.0.0.0_9080', ...config },
});
const rds = (name: string) => hcm({ rds: { route_config_name: name, config_source: { ads: {} } } });
const inline = (virtual_hosts: object[]) => hcm({ route_config: { name: 'inline', virtual_hosts } });
const socket = (address: string, port_value: number) => ({ socket_address: { address, port_value } });
const listener = (name: string, fields: object) => ({ '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', name, ...fields });

const VIRTUAL_INBOUND = listener('virtualInbound', {
  address: socket('0.0.0.0', 15006),
  filter_chains: [
    { filter_chain_match: { prefix_ranges: [{ address_prefix: '0.0.0.0', prefix_len: 0 }], destination_port: 15006 }, filters: [tcp('BlackHoleCluster')] },
    { filter_chain_match: { destination_port: 9080, transport_protocol: 'tls', application_protocols: ['istio-peer-exchange', 'istio'] }, filters: [tcp('inbound|9080||')] },
    {
      filter_chain_match: { destination_port: 9080, transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] },
      filters: [inline([{ name: 'inbound|http|9080', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'inbound|9080||' } }] }])],
    },
    {
      filter_chain_match: { destination_port: 9080, transport_protocol: 'tls', application_protocols: ['http/1.0', 'http/1.1', 'h2c', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'] },
      filters: [inline([{ name: 'redirect', domains: ['*'], routes: [{ match: { prefix: '/' }, redirect: { https_redirect: true } }] }])],
    },
    { filter_chain_match: { application_protocols: ['istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'] }, filters: [rds('inbound|9080||')] },
    { filter_chain_match: { server_names: ['a.example.com', 'b.example.com'], transport_protocol: 'tls' }, filters: [tcp('PassthroughCluster')] },
    {
      filter_chain_match: { prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: 32 }, { address_prefix: '::1', prefix_len: 128 }] },
      filters: [hcm({ scoped_routes: { name: 'scoped' } })],
    },
    {
      filters: [
        inline([
          { name: 'a', domains: ['a.com', 'a.com:80'], routes: [{ match: { path: '/x' } }, { match: { safe_regex: { regex: '/y.*' } } }] },
          { name: 'any', domains: ['*'], routes: [{ match: { path_separated_prefix: '/api' } }] },
        ]),
      ],
    },
    { filter_chain_match: { transport_protocol: 'tls' }, filters: [{ name: 'istio.metadata_exchange' }, tcp('BlackHoleCluster')] },
  ],
  default_filter_chain: { filters: [tcp('InboundPassthroughClusterIpv4')] },
});

const DUMP: ConfigDump = {
  configs: [
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      dynamic_listeners: [
        { name: 'virtualInbound', active_state: { listener: VIRTUAL_INBOUND } },
        {
          name: '0.0.0.0_8080',
          active_state: { listener: listener('0.0.0.0_8080', { address: socket('0.0.0.0', 8080), additional_addresses: [{ address: socket('::', 8080) }], filter_chains: [{ filters: [rds('8080')] }] }) },
        },
        { name: '10.0.0.5_8080', active_state: { listener: listener('10.0.0.5_8080', { address: socket('10.0.0.5', 8080), filter_chains: [{ filters: [tcp('outbound|8080||tcp-echo.default.svc.cluster.local')] }] }) } },
        { name: '10.96.0.10_53', active_state: { listener: listener('10.96.0.10_53', { address: socket('10.96.0.10', 53), filter_chains: [{ filters: [tcp('outbound|53||kube-dns.kube-system.svc.cluster.local')] }] }) } },
        { name: 'warming-only', warming_state: { listener: listener('warming-only', { address: socket('0.0.0.0', 1) }) } },
      ],
      static_listeners: [
        {
          listener: listener('virtualOutbound', {
            address: socket('0.0.0.0', 15001),
            filter_chains: [{ filter_chain_match: { destination_port: 15001 }, filters: [tcp('BlackHoleCluster')] }],
            default_filter_chain: { filters: [tcp('PassthroughCluster')] },
          }),
        },
        { listener: listener('uds', { address: { pipe: { path: '/var/run/x.sock' } }, filter_chains: [{ filters: [rds('uds')] }] }) },
      ],
    },
  ],
};

describe('proxy-config listeners', () => {
  it('one row per filter chain: its match and destination; listeners by port, address, type; chains by destination, descending', () => {
    expect(writeListenerSummary(DUMP)).toBe(
      [
        'ADDRESSES       PORT  MATCH                                              DESTINATION',
        '/var/run/x.sock 0     ALL                                                Route: uds',
        '10.96.0.10      53    ALL                                                Cluster: outbound|53||kube-dns.kube-system.svc.cluster.local',
        '0.0.0.0,::      8080  ALL                                                Route: 8080',
        '10.0.0.5        8080  ALL                                                Cluster: outbound|8080||tcp-echo.default.svc.cluster.local',
        '0.0.0.0         15001 ALL                                                PassthroughCluster',
        '0.0.0.0         15001 Addr: *:15001                                      Non-HTTP/Non-TCP',
        '0.0.0.0         15006 App: Istio HTTP Plain                              Route: inbound|9080||',
        '0.0.0.0         15006 SNI: a.example.com,b.example.com; Trans: tls       PassthroughCluster',
        '0.0.0.0         15006 Addr: 0.0.0.0/0:15006                              Non-HTTP/Non-TCP',
        '0.0.0.0         15006 Trans: tls                                         Non-HTTP/Non-TCP',
        '0.0.0.0         15006 ALL                                                Inline Route: a.com/a.com:80 /x, regex /y.*; PathPrefix:/api',
        '0.0.0.0         15006 Trans: tls; App: HTTP TLS; Addr: *:9080            Inline Route: /*',
        '0.0.0.0         15006 ALL                                                InboundPassthroughClusterIpv4',
        '0.0.0.0         15006 Addr: 10.0.0.1/32,::1/128                          HTTP',
        '0.0.0.0         15006 Trans: tls; App: TCP TLS; Addr: *:9080             Cluster: inbound|9080||',
        '0.0.0.0         15006 Trans: raw_buffer; App: http/1.1,h2c; Addr: *:9080 Cluster: inbound|9080||',
        '',
      ].join('\n'),
    );
  });

  it('not verbose: one row per listener with its type (a TCP proxy to the BlackHoleCluster does not count)', () => {
    expect(writeListenerSummary(DUMP, { verbose: false })).toBe(
      [
        'ADDRESSES       PORT  TYPE',
        '/var/run/x.sock 0     HTTP',
        '10.96.0.10      53    TCP',
        '0.0.0.0,::      8080  HTTP',
        '10.0.0.5        8080  TCP',
        '0.0.0.0         15001 TCP',
        '0.0.0.0         15006 HTTP+TCP',
        '',
      ].join('\n'),
    );
  });

  it('--address (also an additional address), --port, --type (any case)', () => {
    const rows = (filter: Parameters<typeof writeListenerSummary>[1]) => writeListenerSummary(DUMP, { ...filter, verbose: false }).split('\n').slice(1, -1);
    expect(rows({ address: '::' })).toEqual(['0.0.0.0,:: 8080 HTTP']);
    expect(rows({ port: 8080 })).toEqual(['0.0.0.0,:: 8080 HTTP', '10.0.0.5   8080 TCP']);
    expect(rows({ type: 'tcp' })).toEqual(['10.96.0.10 53    TCP', '10.0.0.5   8080  TCP', '0.0.0.0    15001 TCP']);
    expect(rows({ type: 'HTTP+TCP', address: '0.0.0.0' })).toEqual(['0.0.0.0   15006 HTTP+TCP']);
  });

  it("with the NAME column (all), on istioctl's test dump", () => {
    expect(writeListenerSummary(istioctlDump('proxyconfig/testdata/config_dump.json'), {}, { includeConfigType: true })).toBe(
      [
        'NAME                   ADDRESSES PORT  MATCH DESTINATION',
        'listener/main_internal           0     ALL   Cluster: inbound-vip|8100|http|httpbin.default.svc.cluster.local',
        'listener/main_internal           0     ALL   Cluster: inbound-vip|8000|http|httpbin.default.svc.cluster.local',
        'listener/main_internal           0     ALL   Cluster: encap',
        'listener/main_internal           0     ALL   Cluster: encap',
        'listener/              0.0.0.0   15021 ALL   Inline Route: /healthz/ready*',
        '',
      ].join('\n'),
    );
  });

  it('the errors istioctl reports', () => {
    expect(() => writeListenerSummary({ configs: [] })).toThrow('listener dump: config dump has no configuration type type.googleapis.com/envoy.admin.v3.ListenersConfigDump');
    expect(() => writeListenerSummary({ configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump' }] })).toThrow(new ProxyConfigError('no listeners found'));
  });

  it('-o json: the matching listeners in the dump order (dynamic, then static)', () => {
    const names = (json: string) => [...json.matchAll(/^ {8}"name": "([^"]+)"/gm)].map((m) => m[1]);
    expect(names(writeListenerDump(DUMP, { port: 15001 }, 'json'))).toEqual(['virtualOutbound']);
    const all = writeListenerDump(DUMP, {}, 'json');
    expect(names(all)).toEqual(['virtualInbound', '0.0.0.0_8080', '10.0.0.5_8080', '10.96.0.10_53', 'virtualOutbound', 'uds']);
    expect(all).toContain('"filterChainMatch": {\n                    "destinationPort": 15006,\n                    "prefixRanges": [\n                        {\n                            "addressPrefix": "0.0.0.0",\n                            "prefixLen": 0\n');
  });
});
