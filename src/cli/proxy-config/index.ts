/**
 * The tables and dumps of `istioctl proxy-config` (clusters, listeners, routes, endpoints,
 * secrets, all), written byte for byte as istioctl writes them, from an Envoy admin config dump
 * (`/config_dump`) or, for endpoints, `/clusters?format=json`.
 */
export { writeAllDump, writeAllSummary, type AllSummaryOptions } from './all.js';
export { writeBootstrapDump, writeBootstrapSummary } from './bootstrap.js';
export { writeClusterDump, writeClusterSummary, type ClusterFilter, type ClusterSummaryOptions } from './clusters.js';
export { parseConfigDump, ProxyConfigError, toConfigDump, type ConfigDump } from './config-dump.js';
export { writeEdsDump, writeEdsSummary, type EdsSummaryOptions, type EndpointFilter } from './eds.js';
export { parseClustersStatus, toClustersStatus, writeEndpointDump, writeEndpointSummary, type ClustersStatus } from './endpoints.js';
export { writeListenerDump, writeListenerSummary, type ListenerFilter, type ListenerSummaryOptions } from './listeners.js';
export type { OutputFormat } from './print-messages.js';
export { writeRouteDump, writeRouteSummary, type RouteFilter, type RouteSummaryOptions } from './routes.js';
export { writeSecretDump, writeSecretSummary, type SecretSummaryOptions } from './secrets.js';
