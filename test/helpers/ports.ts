import { createServer, type AddressInfo, type Server } from 'node:net';

/** Ports already handed out by this process: never handed out twice (the kernel may reuse a closed one). */
const handedOut = new Set<number>();

function bindEphemeral(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(srv));
  });
}

const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/** A TCP port that was free a moment ago on 127.0.0.1 (bind :0, read, close). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** `n` distinct free ports (held open together so the kernel cannot hand out the same one twice). */
export async function freePorts(n: number): Promise<number[]> {
  const held: Server[] = [];
  const out: number[] = [];
  try {
    for (let tries = 0; out.length < n && tries < n + 100; tries++) {
      const srv = await bindEphemeral();
      held.push(srv);
      const port = (srv.address() as AddressInfo).port;
      if (handedOut.has(port)) continue; // keep it bound so the next bind gets another one
      out.push(port);
    }
  } finally {
    await Promise.all(held.map(closeServer));
  }
  if (out.length < n) throw new Error(`could not find ${n} free ports`);
  for (const p of out) handedOut.add(p);
  return out;
}
