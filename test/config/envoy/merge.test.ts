import { describe, expect, it } from 'vitest';
import { fromProtoJson } from '../../../src/config/envoy/proto/json.js';
import { mergeMessage } from '../../../src/config/envoy/proto/merge.js';
import { messageType } from '../../../src/config/envoy/proto/registry.js';

const cluster = messageType('envoy.config.cluster.v3.Cluster');
const plain = (json: object) => fromProtoJson<Record<string, unknown>>(cluster, json, { location: { file: 'x' } });

describe('mergeMessage (protobuf MergeFrom on the plain form)', () => {
  it('scalars replace unless zero, messages merge, lists append, maps replace per key', () => {
    const base = plain({
      name: 'a',
      connect_timeout: '5s',
      lb_policy: 'RING_HASH',
      per_connection_buffer_limit_bytes: 100,
      metadata: { filter_metadata: { istio: { x: 1 }, other: { y: 2 } } },
      health_checks: [{ timeout: '1s', interval: '1s', tcp_health_check: {} }],
    });
    const over = plain({
      name: '',
      connect_timeout: '0.5s',
      lb_policy: 'ROUND_ROBIN', // enum value 0: proto3 has no presence, so it does not replace
      per_connection_buffer_limit_bytes: 0, // a wrapper is a message, merged: its zero value replaces nothing (as in Envoy)
      metadata: { filter_metadata: { istio: { z: 3 } } },
      health_checks: [{ timeout: '2s', interval: '2s', http_health_check: { path: '/' } }],
    });
    const m = mergeMessage(cluster, base, over);
    expect(m.name).toBe('a');
    expect(m.connect_timeout).toEqual({ seconds: '5', nanos: 500_000_000 });
    expect(m.lb_policy).toBe('RING_HASH');
    expect(m.per_connection_buffer_limit_bytes).toEqual({ value: 100 });
    expect(m.metadata).toEqual(plain({ metadata: { filter_metadata: { istio: { z: 3 }, other: { y: 2 } } } }).metadata);
    expect((m.health_checks as unknown[]).length).toBe(2);
    expect(base.name).toBe('a'); // inputs untouched
  });

  it('a oneof member replaces its siblings', () => {
    const base = plain({ name: 'a', type: 'STATIC' });
    const m = mergeMessage(cluster, base, plain({ cluster_type: { name: 'envoy.clusters.aggregate' } }));
    expect(m.type).toBeUndefined();
    expect(m.cluster_discovery_type).toBe('cluster_type');
    expect(m.cluster_type).toEqual({ name: 'envoy.clusters.aggregate' });
  });
});
