import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Downstream } from '../../codec/downstream.js';
import { H1ServerConnection } from '../../codec/http1/server-connection.js';
import { Http2ServerConnection } from '../../codec/http2/connection.js';
import type { H2ServerConnection } from '../../codec/http2/server-session.js';
import { HTTP_CONNECTION_MANAGER_FILTER } from '../../config/envoy/network-filters.js';
import type { HttpConnectionManager } from '../../config/snapshot.js';
import type { HttpPipeline } from '../../worker/runtime.js';
import type { NetworkFilterCallbacks, NetworkFilterFactory } from '../filter.js';

/**
 * envoy.filters.network.http_connection_manager, terminal: the connection goes to the HTTP/2 codec
 * when ALPN negotiated h2 (or Istio's istio-h2) or the read-ahead bytes are the h2c preface, else
 * to the HTTP/1.1 codec, which hands over to HTTP/2 if the preface comes later. Each request is
 * served by the current config's pipeline for this listener and chain (the connection outlives
 * config changes; its owner looks the pipeline up).
 */
export const httpConnectionManagerNetworkFilter: NetworkFilterFactory<HttpConnectionManager, HttpPipeline> = {
  name: HTTP_CONNECTION_MANAGER_FILTER,
  terminal: true,
  parse: (hcm, context) => context.httpPipeline(hcm),
  create(pipeline) {
    return (callbacks) => ({
      onNewConnection() {
        serveHttp(callbacks, pipeline);
        return 'continue';
      },
    });
  },
};

/**
 * Which HTTP/2 codec serves downstream connections: Outrigger's own (codec/http2/connection.ts; less
 * than half node:http2's CPU per request), or node:http2 (codec/http2/server-session.ts) with
 * OUTRIGGER_HTTP2_CODEC=node, kept as a fallback. Read once; the fallback (and node:http2) is loaded only
 * when chosen.
 */
const Http2Codec = process.env.OUTRIGGER_HTTP2_CODEC === 'node' ? (await import('../../codec/http2/server-session.js')).H2ServerConnection : Http2ServerConnection;

function serveHttp(callbacks: NetworkFilterCallbacks, pipeline: HttpPipeline): void {
  const c = callbacks.connection;
  const { owner } = callbacks;
  const onRequest = (ds: Downstream) => owner.onRequest(c.listenerName, c.chainName, ds);
  const track = (conn: H1ServerConnection | H2ServerConnection | Http2ServerConnection) => {
    conn.onClosed = owner.track({ drain: () => conn.drain(), destroy: () => conn.socket.destroy() }, c.listenerName);
  };
  const context = {
    ...(c.originalDestination ? { originalDestination: c.originalDestination } : {}),
    ...(c.peer ? { peer: c.peer } : {}),
    ...(c.secure ? { secure: true } : {}),
  };
  const options = pipeline.serverOptions;
  const preRead = c.readAhead;
  if (isHttp2(c.socket, preRead)) {
    track(new Http2Codec(c.socket, options, onRequest, { ...context, ...(preRead ? { preRead } : {}) }));
    return;
  }
  track(
    new H1ServerConnection(c.socket, options, onRequest, {
      ...context,
      ...(preRead ? { preRead } : {}),
      ...(c.ended ? { ended: true } : {}),
      // h2c with prior knowledge on a connection nothing inspected: the HTTP/1.1 codec hands it over
      onHttp2Preface: (s, bytes) => track(new Http2Codec(s, options, onRequest, { ...context, preRead: bytes })),
    }),
  );
  if (c.paused) c.socket.resume(); // inspection paused it
}

/** HTTP/2: negotiated by ALPN over TLS, or its preface seen by inspection (h2c prior knowledge). */
function isHttp2(socket: Socket, readAhead: Buffer | undefined): boolean {
  const alpn = (socket as Partial<TLSSocket>).encrypted ? (socket as TLSSocket).alpnProtocol : false;
  return alpn === 'h2' || alpn === 'istio-h2' || (readAhead !== undefined && readAhead.subarray(0, 3).toString('latin1') === 'PRI');
}
