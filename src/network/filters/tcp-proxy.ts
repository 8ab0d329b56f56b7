import { TCP_PROXY_FILTER } from '../../config/envoy/network-filters.js';
import type { TcpProxy } from '../../config/snapshot.js';
import { TcpProxySession } from '../../tcp/tcp-proxy.js';
import type { NetworkFilterFactory } from '../filter.js';

/**
 * envoy.filters.network.tcp_proxy, terminal: on the new connection it picks the upstream and relays
 * bytes both ways (tcp/tcp-proxy.ts), the bytes inspection read ahead first.
 */
export const tcpProxyNetworkFilter: NetworkFilterFactory<TcpProxy> = {
  name: TCP_PROXY_FILTER,
  terminal: true,
  parse: (config) => config,
  create(config, context) {
    return (callbacks) => ({
      onNewConnection() {
        const c = callbacks.connection;
        const s = new TcpProxySession(
          c.socket,
          {
            runtime: context.runtime,
            listener: context.listener,
            config,
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
