import type { Socket } from 'node:net';
import { sniff, type Sniffed } from './sniff.js';
import type { Inspected } from './filter-chain-match.js';

export interface InspectResult {
  inspected: Inspected;
  /** The bytes read while looking: the chain's filter gets them first. */
  preRead: Buffer | undefined;
  /** Detection ran out of time (Envoy's downstream_pre_cx_timeout); the connection goes on as raw TCP. */
  timedOut: boolean;
  /** The client half-closed while detection waited: `preRead` is all it sent. */
  ended: boolean;
}

/**
 * Envoy's tls_inspector + http_inspector: reads the first bytes of a connection until the
 * protocol is known, for at most `timeoutMs` (0: as long as the client takes). Resolves undefined
 * when the client closes first. The socket is left paused with nothing consumed for its next owner.
 */
export function inspect(socket: Socket, timeoutMs: number, onDone: (r: InspectResult | undefined) => void): void {
  let buf: Buffer | undefined;
  let timer: NodeJS.Timeout | undefined;
  const finish = (r: InspectResult | undefined) => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    if (timer) clearTimeout(timer);
    socket.pause();
    onDone(r);
  };
  let ended = false;
  const decide = (s: Sniffed, timedOut: boolean) => finish({ inspected: toInspected(s), preRead: buf, timedOut, ended });
  const onData = (chunk: Buffer) => {
    buf = buf ? Buffer.concat([buf, chunk]) : chunk;
    const s = sniff(buf);
    if (s.protocol !== 'need-more') decide(s, false);
  };
  // a client that half-closes before saying enough: what it sent is all there is
  const onEnd = () => {
    ended = true;
    if (buf) decide(sniffFinal(buf), false);
    else finish(undefined);
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
  if (timeoutMs > 0) timer = setTimeout(() => decide({ protocol: 'tcp' }, true), timeoutMs);
}

/** No more bytes will come: what was undecided is TCP. */
function sniffFinal(buf: Buffer): Sniffed {
  const s = sniff(buf);
  return s.protocol === 'need-more' ? { protocol: 'tcp' } : s;
}

function toInspected(s: Sniffed): Inspected {
  switch (s.protocol) {
    case 'tls':
      return { transportProtocol: 'tls', ...(s.sni ? { serverName: s.sni } : {}), applicationProtocols: s.alpn };
    case 'h2':
      return { transportProtocol: 'raw_buffer', applicationProtocols: ['h2c'] };
    case 'http1':
      return { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'] };
    default:
      return { transportProtocol: 'raw_buffer', applicationProtocols: [] };
  }
}
