/**
 * The Snapshot an HTTP filter test runs on: one listener on 127.0.0.1 whose connection manager
 * has the filters under test, one route configuration, and one static cluster `cluster` with the
 * test's upstream as its only host.
 */
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { HttpFilterConfig, Route, Snapshot, TrafficDirection } from '../../src/config/snapshot.js';
import { sidecarNode } from '../config/helpers.js';

export interface FilterSnapshotOptions {
  /** The listener's port. */
  port: number;
  /** The upstream's port (the cluster's host on 127.0.0.1). */
  upstreamPort: number;
  httpFilters: HttpFilterConfig[];
  /** The routes of the one virtual host (domains *). */
  routes: Route[];
  /** The cluster's name (default `c`). */
  cluster?: string;
  direction?: TrafficDirection;
}

export function filterSnapshot(o: FilterSnapshotOptions): Snapshot {
  const cluster = o.cluster ?? 'c';
  return {
    version: 'test',
    node: sidecarNode(),
    listeners: [{
      name: 'l', address: '127.0.0.1', port: o.port, direction: o.direction ?? 'INBOUND',
      filterChains: [{ name: 'l', match: {}, filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: {
        statPrefix: 'l', routeConfigName: 'r', useRemoteAddress: false, stripEnvoyHeaders: false, maxRequestHeadersKb: 60,
        idleTimeoutMs: 60_000, acceptHttp10: false, httpFilters: o.httpFilters,
      } }] }],
    }],
    routeConfigs: [{ name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: o.routes }] }],
    clusters: [{ name: cluster, type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 }],
    endpoints: [loadAssignment(cluster, [staticHost('127.0.0.1', o.upstreamPort)])],
    secrets: [], resourceVersions: { clusters: {}, endpoints: {}, secrets: {} },
  };
}
