import { TCP_PROXY_FILTER } from '../../config/envoy/network-filters.js';
import type { TcpProxy } from '../../config/snapshot.js';
import { TcpProxySession } from '../../tcp/tcp-proxy.js';
import type { AccessLogs } from '../../telemetry/access-log/logger.js';
import { compileIstioMetrics, type IstioMetricsPolicy } from '../../telemetry/istio-metrics.js';
import type { NetworkFilterFactory } from '../filter.js';

/**
 * envoy.filters.network.tcp_proxy, terminal: on the new connection it picks the upstream and relays
 * bytes both ways (tcp/tcp-proxy.ts), the bytes inspection read ahead first.
 */
export const tcpProxyNetworkFilter: NetworkFilterFactory<TcpProxy, { config: TcpProxy; accessLogs: AccessLogs | undefined; metrics: IstioMetricsPolicy }> = {
  name: TCP_PROXY_FILTER,
  terminal: true,
  // the access logs compile with the Runtime, onto the worker's files
  parse: (config, context) => ({ config, accessLogs: context.runtime.accessLogs(config.accessLog), metrics: compileIstioMetrics(config.istioStats) }),
  create({ config, accessLogs, metrics }, context) {
    return (callbacks) => ({
      onNewConnection() {
        const c = callbacks.connection;
        const s = new TcpProxySession(
          c.socket,
          {
            runtime: context.runtime,
            listener: context.listener,
            config,
            metrics,
            ...(accessLogs ? { accessLogs } : {}),
            ...(c.originalDestination ? { originalDestination: c.originalDestination } : {}),
            ...(c.serverName ? { serverName: c.serverName } : {}),
            ...(c.peer ? { peer: c.peer } : {}),
          },
          c.readAhead,
        );
        const untrack = callbacks.owner.track(s, callbacks.connection.listenerName);
        s.onClosed = untrack;
        s.start();
        return 'continue';
      },
    });
  },
};
