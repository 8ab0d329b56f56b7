import { createServer, type AddressInfo, type Server } from 'node:net';

/** Ports already handed out by this process: never handed out twice (the kernel may reuse a closed one). */
const handedOut = new Set<number>();

/**
 * Ports are picked at random below the kernel's ephemeral range (32768+ on Linux): a port taken
 * from that range can be grabbed as the source port of an outgoing connection (a client, the
 * proxy's upstream pool) between the check and the proxy's bind, which then fails.
 */
const RANGE_LOW = 10_000;
const RANGE_HIGH = 32_000;
/**
 * Test files run in parallel processes (vitest's pool): each pool slot draws from its own slice of
 * the range, so two files never hand out the same port between one's check and its proxy's bind.
 */
const SLOTS = 4;
const slot = (Math.max(1, Number(process.env.VITEST_POOL_ID ?? 1)) - 1) % SLOTS;
const span = Math.floor((RANGE_HIGH - RANGE_LOW) / SLOTS);
const LOW = RANGE_LOW + slot * span;
const HIGH = LOW + span;

/** A port drawn at random from this pool slot's slice of the range. */
const drawPort = () => LOW + Math.floor(Math.random() * (HIGH - LOW));

function bindEphemeral(draw: () => number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const tryOnce = (left: number) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', (err) => (left > 0 ? tryOnce(left - 1) : reject(err)));
      srv.listen({ host: '0.0.0.0', port: draw(), exclusive: true }, () => resolve(srv));
    };
    tryOnce(50);
  });
}

const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/**
 * The Fetch standard's bad ports in the range drawn from: fetch() (undici) refuses to connect to
 * them ("bad port"), so a proxy whose health port is one never looks ready to the tests' probes.
 */
const FETCH_BAD_PORTS = new Set([10080]);

export function isFetchBadPort(port: number): boolean {
  return FETCH_BAD_PORTS.has(port);
}

/** A TCP port that was free a moment ago on 127.0.0.1 (bind :0, read, close). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/**
 * `n` distinct free ports (held open together so the kernel cannot hand out the same one twice).
 * `draw` picks the port to try (tests of this helper steer it).
 */
export async function freePorts(n: number, draw: () => number = drawPort): Promise<number[]> {
  const held: Server[] = [];
  const out: number[] = [];
  try {
    for (let tries = 0; out.length < n && tries < n + 100; tries++) {
      const srv = await bindEphemeral(draw);
      held.push(srv);
      const port = (srv.address() as AddressInfo).port;
      if (handedOut.has(port) || isFetchBadPort(port)) continue; // keep it bound so the next bind gets another one
      out.push(port);
    }
  } finally {
    await Promise.all(held.map(closeServer));
  }
  if (out.length < n) throw new Error(`could not find ${n} free ports`);
  for (const p of out) handedOut.add(p);
  return out;
}
