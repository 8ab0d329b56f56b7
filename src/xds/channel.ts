import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';

/** PEM text given inline or read from a file. */
export type PemSource = { pem: string | Buffer } | { file: string };

/** TLS to the control plane: the CA that signs the server (system roots when absent), an optional client certificate, and SNI. */
export interface XdsTls {
  ca?: PemSource;
  cert?: PemSource;
  key?: PemSource;
  /** SNI and the name checked in the server certificate (Envoy's UpstreamTlsContext sni). */
  serverName?: string;
}

/**
 * Where the control plane listens, as the bootstrap's xds-grpc / sds-grpc cluster says: a unix
 * socket (Envoy's `pipe`; a relative path is relative to the process's working directory, as
 * pilot-agent's `./etc/istio/proxy/XDS`) or host:port, plaintext or TLS.
 */
export type XdsTarget = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number; tls?: XdsTls };

/** Channel settings every xDS channel gets; `extra` may override them. */
const DEFAULT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // a CDS or EDS response for a large mesh is far above grpc-js's 4 MiB default; Envoy sets no limit
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

function readPem(source: PemSource): Buffer {
  return 'file' in source ? readFileSync(source.file) : Buffer.from(source.pem);
}

/** The grpc-js target string of a target. */
export function grpcAddress(target: XdsTarget): string {
  if (target.kind === 'unix') return `unix:${path.resolve(target.path)}`;
  const host = target.host.includes(':') && !target.host.startsWith('[') ? `[${target.host}]` : target.host;
  return `${host}:${target.port}`;
}

/**
 * A grpc-js client (one HTTP/2 channel, which grpc-js reconnects by itself) for a control plane.
 * TLS files are read now: a certificate rotated later needs a new client.
 */
export function createXdsChannel(target: XdsTarget, extra: grpc.ChannelOptions = {}): grpc.Client {
  let credentials = grpc.credentials.createInsecure();
  const options: grpc.ChannelOptions = { ...DEFAULT_CHANNEL_OPTIONS };
  if (target.kind === 'tcp' && target.tls) {
    const { ca, cert, key, serverName } = target.tls;
    if (!cert !== !key) throw new Error('xDS TLS: a client certificate needs both cert and key');
    credentials = grpc.credentials.createSsl(ca ? readPem(ca) : null, key ? readPem(key) : null, cert ? readPem(cert) : null);
    if (serverName) {
      options['grpc.ssl_target_name_override'] = serverName;
      options['grpc.default_authority'] = serverName;
    }
  }
  return new grpc.Client(grpcAddress(target), credentials, { ...options, ...extra });
}
