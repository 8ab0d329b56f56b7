import type { Socket } from 'node:net';
import { hostPort } from '../common/address.js';
import type { Downstream } from './downstream.js';

/** The Downstream fields that describe the client connection, not the request: the same for every request on it. */
export type ConnectionEndpoints = Pick<Downstream, 'remoteAddress' | 'remotePort' | 'remoteEndpoint' | 'localAddress' | 'localPort' | 'localEndpoint'>;

/** Read once when a codec takes the connection (each codec's requests copy them instead of formatting them again). */
export function connectionEndpoints(socket: Socket): ConnectionEndpoints {
  const remoteAddress = socket.remoteAddress ?? '';
  const remotePort = socket.remotePort ?? 0;
  const localAddress = socket.localAddress ?? '';
  const localPort = socket.localPort ?? 0;
  return {
    remoteAddress,
    remotePort,
    remoteEndpoint: hostPort(remoteAddress, remotePort),
    localAddress,
    localPort,
    localEndpoint: hostPort(localAddress, socket.localPort),
  };
}
