import { describe, expect, it } from 'vitest';
import { renderPrometheus, type ServerValues } from '../../src/telemetry/prometheus.js';
import { DURATION_BUCKETS_MS, BYTES_BUCKETS, statKey, type StatsSnapshot } from '../../src/telemetry/stats.js';
import { parsePrometheus } from '../helpers/telemetry.js';

const SERVER: ServerValues = {
  live: true,
  state: 0,
  uptimeSeconds: 42,
  concurrency: 2,
  configReloads: 1,
  configRejected: 3,
  workerRestarts: 0,
  version: '9.9.9',
};

const C = 'outbound|80||a.default.svc.cluster.local';
const LABELS = { reporter: 'source', destination_service: 'a.default.svc.cluster.local', response_code: '200', response_flags: '-' };

/** Per-bucket counts (not cumulative): one at 0.5 ms (first bucket), one at 5 ms, one above the last bound. */
function durationCounts(): number[] {
  const c = new Array(DURATION_BUCKETS_MS.length + 1).fill(0);
  c[0] = 1;
  c[2] = 1;
  c[DURATION_BUCKETS_MS.length] = 1;
  return c;
}

function snapshot(): StatsSnapshot {
  const bytes = new Array(BYTES_BUCKETS.length + 1).fill(0);
  bytes[3] = 3; // three requests of 101..1000 bytes
  return {
    counters: {
      [statKey('cluster', C, 'upstream_rq_total')]: 5,
      [statKey('cluster', C, 'upstream_rq_2xx')]: 4,
      [statKey('cluster', C, 'upstream_rq_5xx')]: 1,
      [statKey('cluster', C, 'upstream_rq_200')]: 4,
      [statKey('cluster', C, 'upstream_rq_503')]: 1,
      [statKey('listener', '0.0.0.0_8080', 'downstream_cx_total')]: 3,
      [statKey('http', '0.0.0.0_8080', 'downstream_rq_total')]: 5,
      [statKey('http', '0.0.0.0_8080', 'downstream_rq_4xx')]: 2,
      [statKey('host', `${C}\u0002127.0.0.1:9000`, 'rq_total')]: 5,
    },
    gauges: {
      [statKey('cluster', C, 'upstream_cx_active')]: 2,
      [statKey('listener', '0.0.0.0_8080', 'downstream_cx_active')]: 4,
      [statKey('listener', '0.0.0.0_9090', 'downstream_cx_active')]: 1,
    },
    istioRequests: [
      {
        labels: LABELS,
        metrics: 15,
        count: 3,
        duration: { counts: durationCounts(), sum: 4000.5 },
        requestBytes: { counts: bytes, sum: 1500 },
        responseBytes: { counts: bytes, sum: 2400 },
      },
    ],
    istioTcp: [],
  };
}

describe('renderPrometheus', () => {
  it('renders istio_requests_total with the series labels and count', async () => {
    const e = parsePrometheus(await renderPrometheus(snapshot(), SERVER));
    expect(e.types.get('istio_requests_total')).toBe('counter');
    expect(e.select('istio_requests_total')).toEqual([{ name: 'istio_requests_total', labels: LABELS, value: 3 }]);
  });

  it('renders cumulative duration buckets in ms, +Inf equal to _count, and _sum', async () => {
    const e = parsePrometheus(await renderPrometheus(snapshot(), SERVER));
    expect(e.types.get('istio_request_duration_milliseconds')).toBe('histogram');
    const b = e.buckets('istio_request_duration_milliseconds', LABELS);
    expect(b.map((x) => x.le)).toEqual([...DURATION_BUCKETS_MS.map(String), '+Inf']);
    const expected = DURATION_BUCKETS_MS.map((_, i) => (i === 0 || i === 1 ? 1 : 2));
    expect(b.map((x) => x.value)).toEqual([...expected, 3]);
    expect(e.one('istio_request_duration_milliseconds_count', LABELS)).toBe(3);
    expect(e.one('istio_request_duration_milliseconds_sum', LABELS)).toBe(4000.5);
    // the bucket series carry the series labels plus le, nothing else
    for (const s of e.select('istio_request_duration_milliseconds_bucket')) expect(Object.keys(s.labels).sort()).toEqual([...Object.keys(LABELS), 'le'].sort());
  });

  it('renders the seconds variant from the same observations: bounds and sum divided by 1000', async () => {
    const e = parsePrometheus(await renderPrometheus(snapshot(), SERVER));
    expect(e.types.get('istio_request_duration_seconds')).toBe('histogram');
    const ms = e.buckets('istio_request_duration_milliseconds', LABELS);
    const s = e.buckets('istio_request_duration_seconds', LABELS);
    expect(s.map((x) => (x.le === '+Inf' ? Infinity : Number(x.le)))).toEqual([...DURATION_BUCKETS_MS.map((b) => b / 1000), Infinity]);
    expect(s.map((x) => x.value)).toEqual(ms.map((x) => x.value));
    expect(s[0].le).toBe('0.0005');
    expect(e.one('istio_request_duration_seconds_sum', LABELS)).toBeCloseTo(4.0005, 9);
    expect(e.one('istio_request_duration_seconds_count', LABELS)).toBe(3);
  });

  it('renders request and response size histograms with Istio\'s byte buckets', async () => {
    const e = parsePrometheus(await renderPrometheus(snapshot(), SERVER));
    for (const family of ['istio_request_bytes', 'istio_response_bytes']) {
      expect(e.types.get(family)).toBe('histogram');
      const b = e.buckets(family, LABELS);
      expect(b.map((x) => x.le)).toEqual([...BYTES_BUCKETS.map(String), '+Inf']);
      expect(b.map((x) => x.value)).toEqual([0, 0, 0, 3, 3, 3, 3, 3, 3, 3]);
      expect(e.one(`${family}_count`, LABELS)).toBe(3);
    }
    expect(e.one('istio_request_bytes_sum', LABELS)).toBe(1500);
    expect(e.one('istio_response_bytes_sum', LABELS)).toBe(2400);
  });

  it('extracts Envoy tags: upstream_rq_2xx → upstream_rq_xx{envoy_response_code_class}, upstream_rq_200 → upstream_rq{envoy_response_code}', async () => {
    const e = parsePrometheus(await renderPrometheus(snapshot(), SERVER));
    expect(e.one('envoy_cluster_upstream_rq_xx', { envoy_cluster_name: C, envoy_response_code_class: '2' })).toBe(4);
    expect(e.one('envoy_cluster_upstream_rq_xx', { envoy_cluster_name: C, envoy_response_code_class: '5' })).toBe(1);
    expect(e.one('envoy_cluster_upstream_rq', { envoy_cluster_name: C, envoy_response_code: '200' })).toBe(4);
    expect(e.one('envoy_cluster_upstream_rq', { envoy_cluster_name: C, envoy_response_code: '503' })).toBe(1);
    expect(e.one('envoy_cluster_upstream_rq_total', { envoy_cluster_name: C })).toBe(5);
    expect(e.one('envoy_http_downstream_rq_xx', { envoy_http_conn_manager_prefix: '0.0.0.0_8080', envoy_response_code_class: '4' })).toBe(2);
    expect(e.one('envoy_http_downstream_rq_total', { envoy_http_conn_manager_prefix: '0.0.0.0_8080' })).toBe(5);
    expect(e.one('envoy_listener_downstream_cx_total', { envoy_listener_address: '0.0.0.0_8080' })).toBe(3);
    const names = e.names();
    for (const untagged of ['envoy_cluster_upstream_rq_2xx', 'envoy_cluster_upstream_rq_5xx', 'envoy_cluster_upstream_rq_200', 'envoy_cluster_upstream_rq_503', 'envoy_http_downstream_rq_4xx']) {
      expect(names.has(untagged), untagged).toBe(false);
    }
    // per-endpoint stats belong to /clusters, not to Prometheus
    expect([...names].filter((n) => n.startsWith('envoy_host'))).toEqual([]);
    expect(e.select('envoy_cluster_upstream_rq_total')[0].labels).toEqual({ envoy_cluster_name: C });
  });

  it('keeps overload stats untagged, as Envoy names them: overload.<action>.active → envoy_overload_<action>_active', async () => {
    const s = snapshot();
    s.gauges[statKey('overload', 'envoy.overload_actions.stop_accepting_requests', 'active')] = 1;
    s.gauges[statKey('overload', 'envoy.resource_monitors.fixed_heap', 'pressure')] = 42;
    const m = parsePrometheus(await renderPrometheus(s, SERVER));
    expect(m.one('envoy_overload_envoy_overload_actions_stop_accepting_requests_active')).toBe(1);
    expect(m.one('envoy_overload_envoy_resource_monitors_fixed_heap_pressure')).toBe(42);
    expect(m.types.get('envoy_overload_envoy_resource_monitors_fixed_heap_pressure')).toBe('gauge');
  });

  it('keeps tracer stats untagged and the connection manager\'s tracing decisions tagged, as Envoy names them', async () => {
    const s = snapshot();
    s.counters[statKey('tracing', 'zipkin', 'spans_sent')] = 7;
    s.counters[statKey('http', '0.0.0.0_8080', 'tracing.random_sampling')] = 3;
    const m = parsePrometheus(await renderPrometheus(s, SERVER));
    expect(m.one('envoy_tracing_zipkin_spans_sent')).toBe(7);
    expect(m.one('envoy_http_tracing_random_sampling', { envoy_http_conn_manager_prefix: '0.0.0.0_8080' })).toBe(3);
  });

  it('types counters and gauges', async () => {
    const e = parsePrometheus(await renderPrometheus(snapshot(), SERVER));
    expect(e.types.get('envoy_cluster_upstream_rq_total')).toBe('counter');
    expect(e.types.get('envoy_cluster_upstream_cx_active')).toBe('gauge');
    expect(e.types.get('envoy_listener_downstream_cx_active')).toBe('gauge');
    expect(e.one('envoy_cluster_upstream_cx_active', { envoy_cluster_name: C })).toBe(2);
  });

  it('renders server values, istio_build, open sockets and Outrigger\'s counters', async () => {
    const e = parsePrometheus(await renderPrometheus(snapshot(), SERVER));
    expect(e.one('envoy_server_live')).toBe(1);
    expect(e.one('envoy_server_state')).toBe(0);
    expect(e.one('envoy_server_uptime')).toBe(42);
    expect(e.one('envoy_server_concurrency')).toBe(2);
    expect(e.one('istio_build', { component: 'proxy', tag: '9.9.9' })).toBe(1);
    expect(e.one('istio_tcp_sockets_open')).toBe(5);
    expect(e.one('envoy_server_total_connections')).toBe(5);
    expect(e.one('outrigger_config_reloads_total')).toBe(1);
    expect(e.one('outrigger_config_rejected_total')).toBe(3);
    expect(e.one('outrigger_worker_restarts_total')).toBe(0);
    const notLive = parsePrometheus(await renderPrometheus(snapshot(), { ...SERVER, live: false, state: 1 }));
    expect(notLive.one('envoy_server_live')).toBe(0);
    expect(notLive.one('envoy_server_state')).toBe(1);
  });

  it('escapes label values (quotes, backslashes, newlines) so they parse back unchanged', async () => {
    const labels = { reporter: 'source', destination_service: 'we"ird\\svc\nname' };
    const s = snapshot();
    s.istioRequests[0] = { ...s.istioRequests[0], labels };
    const e = parsePrometheus(await renderPrometheus(s, SERVER));
    expect(e.one('istio_requests_total', labels)).toBe(3);
  });

  it('with no traffic still declares the Istio families (empty), and the exposition parses', async () => {
    const text = await renderPrometheus({ counters: {}, gauges: {}, istioRequests: [], istioTcp: [] }, SERVER);
    const e = parsePrometheus(text);
    for (const f of ['istio_requests_total', 'istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes', 'istio_tcp_sent_bytes_total']) expect(e.types.has(f), f).toBe(true);
    expect(e.select('istio_requests_total')).toEqual([]);
    expect(e.one('istio_tcp_sockets_open')).toBe(0);
  });
});
