import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Agent } from '../agent/agent.js';
import { startAgent, runUntilExit } from './lifecycle.js';
import { log } from '../telemetry/log.js';
import type { RunFlags } from './args.js';
import { describeLoadError } from '../config/load.js';

export const DEMO_CONFIG = fileURLToPath(new URL('../../examples/demo/coffee-shop.yaml', import.meta.url));
export const DEMO_GATEWAY_PORT = 8080;

/** The demo's workloads: tiny HTTP services that echo what reached them. */
const WORKLOADS = [
  { service: 'order', version: 'v1', port: 9101 },
  { service: 'order', version: 'v2', port: 9102 },
  { service: 'payment', version: 'v1', port: 9103 },
  { service: 'inventory', version: 'v1', port: 9104 },
];

export function startDemoWorkload(service: string, version: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => {
      const body = JSON.stringify({
        service,
        version,
        method: req.method,
        path: req.url,
        bodyBytes: size,
        headers: pick(req.headers, ['host', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-canary', 'x-envoy-original-path']),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': `${service}-${version}` });
      res.end(body + '\n');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`demo ${service}-${version}: cannot listen on 127.0.0.1:${port}: ${e.message}`)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function pick(h: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (h[k] !== undefined) out[k] = h[k];
  return out;
}

export async function runDemo(flags: RunFlags): Promise<number> {
  const servers: Server[] = [];
  let agent: Agent;
  try {
    for (const w of WORKLOADS) servers.push(await startDemoWorkload(w.service, w.version, w.port));
    const demoFlags: RunFlags = {
      ...flags,
      identity: { ...flags.identity, mode: 'gateway', namespace: flags.identity.namespace ?? 'istio-system', labels: ['istio=ingressgateway', ...flags.identity.labels] },
    };
    agent = await startAgent(demoFlags, [DEMO_CONFIG, ...flags.configs]);
  } catch (e) {
    for (const line of describeLoadError(e)) log.error(line);
    servers.forEach((s) => s.close());
    return 1;
  }
  const g = `http://127.0.0.1:${DEMO_GATEWAY_PORT}`;
  process.stdout.write(`
Outrigger demo: the coffee-shop mesh is up. Outrigger is the ingress gateway on ${g}
(config: ${DEMO_CONFIG}). Try:

  curl -s ${g}/                                   # direct response from the gateway
  curl -s ${g}/order                              # 90% order v1, 10% order v2
  for i in $(seq 20); do curl -s ${g}/order | grep -o '"version":"v."'; done | sort | uniq -c
  curl -s -H 'x-canary: true' ${g}/order          # header routing: always v2
  curl -s -X POST -d '{"cents":350}' ${g}/payment # POST only; GET gets 404 (no route, flag NR)
  curl -s ${g}/inventory/beans                    # rewritten to /stock/beans upstream
  curl -si ${g}/menu                              # 302 redirect to /

Health: curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:${flags.ports.health}/healthz/ready
Stop with Ctrl-C.
`);
  return runUntilExit(agent, async () => {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });
}
