/**
 * Where an iptables-REDIRECTed TCP connection was originally going, as Envoy's original_dst
 * listener filter finds it: getsockopt(SO_ORIGINAL_DST) on the accepted socket (Node has no API for
 * it, so through koffi's FFI into libc), else the same answer read from /proc/net/nf_conntrack.
 * Both ask netfilter's conntrack table, so neither knows a connection that conntrack did not track.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { isIPv4, SocketAddress, type Socket } from 'node:net';
import { compressIp } from '../common/address.js';
import { loadLibc } from '../common/libc.js';
import { log } from '../telemetry/log.js';

export interface OriginalDestination {
  address: string;
  port: number;
  family: 4 | 6;
}

export interface Endpoint {
  address: string;
  port: number;
}

export type OriginalDstBackend = 'ffi' | 'conntrack';

// <linux/in.h>, <linux/netfilter_ipv4.h>, <linux/netfilter_ipv6/ip6_tables.h>
const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80; // IP6T_SO_ORIGINAL_DST has the same number
const ENOENT = 2; // conntrack has no entry for this socket: authoritative, nothing to fall back to
const SOCKADDR_IN = 16;
const SOCKADDR_IN6 = 28;
const CONNTRACK = '/proc/net/nf_conntrack';

interface Ffi {
  getsockopt(fd: number, level: number, optname: number, optval: Buffer, optlen: Uint32Array): number;
  errno(): number;
}

/** undefined: not tried yet; null: koffi/libc unavailable (this thread uses the conntrack file). */
let ffi: Ffi | null | undefined;
let forced: OriginalDstBackend | undefined;
// Module state is per thread (each worker has its own), so these buffers are never shared.
const optval = Buffer.alloc(SOCKADDR_IN6);
const optlen = new Uint32Array(1); // socklen_t, in host byte order
let chunk: Buffer | undefined;

/** getsockopt through libc, once, on first use: a proxy that never sees a redirected connection pays nothing. */
function loadFfi(): Ffi | null {
  if (ffi !== undefined) return ffi;
  const libc = loadLibc();
  if (!libc) {
    log.debug(`original_dst: no FFI; reading ${CONNTRACK} instead`);
    return (ffi = null);
  }
  // plain pointers: the preallocated buffers are passed as they are, with no marshalling per call
  const getsockopt = libc.lib.func('int getsockopt(int fd, int level, int optname, void *optval, uint32_t *optlen)');
  ffi = { getsockopt, errno: () => libc.koffi.errno() };
  return ffi;
}

/** Which backend originalDestination uses in this thread (loads koffi if not tried yet). */
export function originalDstBackend(): OriginalDstBackend {
  return forced ?? (loadFfi() ? 'ffi' : 'conntrack');
}

/** Forces a backend (tests); undefined restores the automatic choice. 'ffi' throws if koffi cannot load. */
export function setOriginalDstBackend(backend: OriginalDstBackend | undefined): void {
  if (backend === 'ffi' && !loadFfi()) throw new Error('original_dst: koffi/libc could not be loaded');
  forced = backend;
}

/**
 * The connection's original destination: from getsockopt(SO_ORIGINAL_DST) through koffi, else from
 * /proc/net/nf_conntrack, else undefined (not tracked by conntrack / unknown). A connection that
 * conntrack tracked but nobody redirected answers the socket's own local address: callers decide.
 * Never throws.
 */
export function originalDestination(socket: Socket): OriginalDestination | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (!localAddress || !localPort || !remoteAddress || !remotePort) return undefined;
  const v4 = socket.localFamily === 'IPv4' || isIPv4(unmapV4(localAddress));
  if (originalDstBackend() === 'ffi') {
    const fd: unknown = (socket as any)._handle?.fd; // Linux TCPWrap exposes its fd
    if (typeof fd !== 'number' || fd < 0) return undefined;
    const got = getsockoptOriginalDst(ffi!, fd, v4);
    if (got !== 'failed') return got;
  }
  return conntrackLookup({ address: localAddress, port: localPort }, { address: remoteAddress, port: remotePort });
}

/** undefined when conntrack has no entry; 'failed' on any other error (worth the file fallback). */
function getsockoptOriginalDst(f: Ffi, fd: number, v4: boolean): OriginalDestination | undefined | 'failed' {
  // an IPv4 connection on a dual-stack socket is still asked at SOL_IP (as Envoy does)
  optlen[0] = v4 ? SOCKADDR_IN : SOCKADDR_IN6;
  if (f.getsockopt(fd, v4 ? SOL_IP : SOL_IPV6, SO_ORIGINAL_DST, optval, optlen) !== 0) {
    return f.errno() === ENOENT ? undefined : 'failed';
  }
  const port = optval.readUInt16BE(2); // sin_port / sin6_port: network order
  if (v4) return { address: `${optval[4]}.${optval[5]}.${optval[6]}.${optval[7]}`, port, family: 4 };
  const hex = optval.toString('hex', 8, 24).replace(/(.{4})(?!$)/g, '$1:');
  return { address: new SocketAddress({ address: hex, family: 'ipv6' }).address, port, family: 6 };
}

/** Scans /proc/net/nf_conntrack in chunks, stopping at the first match: the table can be large. */
function conntrackLookup(local: Endpoint, remote: Endpoint): OriginalDestination | undefined {
  let fd: number;
  try {
    fd = openSync(CONNTRACK, 'r');
  } catch {
    return undefined; // nf_conntrack not loaded, or not root
  }
  try {
    chunk ??= Buffer.allocUnsafe(64 * 1024);
    let carry = '';
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return findOriginalInConntrack(carry, local, remote);
      const text = carry + chunk.toString('latin1', 0, n);
      const cut = text.lastIndexOf('\n') + 1; // parse whole lines only; keep the tail for the next read
      const found = findOriginalInConntrack(text.slice(0, cut), local, remote);
      if (found) return found;
      carry = text.slice(cut);
    }
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * In /proc/net/nf_conntrack text, the TCP entry whose REPLY tuple is local → remote (what the
 * accepting socket sees), answered with its ORIGINAL tuple's destination. Pure; malformed lines are
 * skipped. A line: `ipv4 2 tcp 6 431999 ESTABLISHED src=A dst=B sport=a dport=b src=C dst=D sport=c dport=d [ASSURED] ...`.
 */
export function findOriginalInConntrack(text: string, local: Endpoint, remote: Endpoint): OriginalDestination | undefined {
  const localIp = canonicalIp(local.address);
  const remoteIp = canonicalIp(remote.address);
  if (localIp === undefined || remoteIp === undefined) return undefined;
  // cheap prefilter: only lines holding the reply tuple's ports are parsed
  const needle = `sport=${local.port} dport=${remote.port}`;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    const start = text.lastIndexOf('\n', at) + 1;
    const end = text.indexOf('\n', at);
    const e = parseConntrackLine(text.slice(start, end < 0 ? text.length : end));
    if (!e) continue;
    const [orig, reply] = e.tuples;
    if (reply.sport === local.port && reply.dport === remote.port && reply.src === localIp && reply.dst === remoteIp) {
      return { address: orig.dst, port: orig.dport, family: e.family };
    }
  }
  return undefined;
}

interface Tuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** A TCP line's family and its ORIGINAL and REPLY tuples (addresses canonical), or undefined. */
function parseConntrackLine(line: string): { family: 4 | 6; tuples: [Tuple, Tuple] } | undefined {
  const fields = line.trim().split(/\s+/);
  const family = fields[0] === 'ipv4' ? 4 : fields[0] === 'ipv6' ? 6 : undefined;
  if (family === undefined || fields[2] !== 'tcp') return undefined;
  const values: Record<string, string[]> = { src: [], dst: [], sport: [], dport: [] };
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq > 0) values[f.slice(0, eq)]?.push(f.slice(eq + 1));
  }
  const tuple = (i: number): Tuple | undefined => {
    const src = canonicalIp(values.src[i] ?? '');
    const dst = canonicalIp(values.dst[i] ?? '');
    const sport = port(values.sport[i]);
    const dport = port(values.dport[i]);
    return src !== undefined && dst !== undefined && sport !== undefined && dport !== undefined ? { src, dst, sport, dport } : undefined;
  };
  const orig = tuple(0);
  const reply = tuple(1);
  return orig && reply ? { family, tuples: [orig, reply] } : undefined;
}

function port(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/** `::ffff:a.b.c.d` (an IPv4 peer of a dual-stack socket) → `a.b.c.d`. */
function unmapV4(address: string): string {
  return address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' ? address.slice(7) : address;
}

/** One spelling per address: IPv4 dotted (also when v4-mapped), IPv6 compressed (conntrack prints it in full). */
function canonicalIp(address: string): string | undefined {
  const a = unmapV4(address);
  if (isIPv4(a)) return a;
  const c = compressIp(address);
  return c?.startsWith('::ffff:') && isIPv4(c.slice(7)) ? c.slice(7) : c;
}
