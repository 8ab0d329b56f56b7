// What an idle proxy has loaded (issue 15: idle memory). A plain sidecar loads none of the optional
// machinery (gRPC, protobufjs, node-forge, jose's verification, re2js, node:http2, node:tls, node's
// bundled undici, and the YAML libraries when the block YAML reader took its config); a config that uses them loads each one when the config is applied, before any request
// (so the first request waits for no import). Read from the proxy's threads themselves
// (test/helpers/module-probe.mjs), with two workers: the agent's thread and two worker threads.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { destinationRule, serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { ROOT, sleep, startProxy, stopAllProxies } from '../helpers/proxy.js';

const PROBE = join(ROOT, 'test', 'helpers', 'module-probe.mjs');
/** This checkout's build, as module URLs start. */
const OUR_DIST = `${pathToFileURL(join(ROOT, 'dist')).href}/`;
const SIDECAR_ARGS = ['--mode', 'sidecar', '--namespace', 'default'];
/** mTLS off for the workload: its clients are outside the mesh, as peerbench's. */
const PLAINTEXT = stringify({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'plaintext', namespace: 'default' }, spec: { mtls: { mode: 'DISABLE' } } });
const probeDirs: string[] = [];

afterAll(async () => {
  await stopAllProxies();
  await Promise.all(probeDirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface ThreadModules {
  thread: string;
  files: string[];
  builtins: string[];
}

/** Starts the proxy on `yaml` with two workers, then reads what each of its three threads loaded (no request sent). */
async function loadedModules(yaml: string): Promise<ThreadModules[]> {
  const dir = await mkdtemp(join(tmpdir(), 'outrigger-modules-'));
  probeDirs.push(dir);
  const proxy = await startProxy({
    yaml,
    args: SIDECAR_ARGS,
    workers: 2,
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PROBE}`, OUTRIGGER_MODULE_PROBE: dir },
  });
  // ready means every worker applied the config; the probe writes within 100 ms of a change
  let threads: ThreadModules[] = [];
  for (let i = 0; i < 50 && threads.length < 3; i++) {
    await sleep(100);
    threads = await Promise.all(
      (await readdir(dir)).filter((f) => f.endsWith('.json')).map(async (f) => ({ thread: f, ...(JSON.parse(await readFile(join(dir, f), 'utf8')) as Omit<ThreadModules, 'thread'>) })),
    );
  }
  await sleep(300); // a last write after the config's own loads
  threads = await Promise.all(threads.map(async (t) => ({ thread: t.thread, ...(JSON.parse(await readFile(join(dir, t.thread), 'utf8')) as Omit<ThreadModules, 'thread'>) })));
  await proxy.stop();
  return threads;
}

/** What `t` loaded of each optional piece. */
function optionalLoaded(t: ThreadModules): Record<string, boolean> {
  const file = (part: string) => t.files.some((u) => u.includes(part));
  const builtin = (name: string) => t.builtins.includes(`NativeModule ${name}`);
  return {
    grpc: file('/node_modules/@grpc/'),
    protobufjs: file('/node_modules/protobufjs/'),
    nodeForge: file('/node_modules/node-forge/'),
    joseVerify: file('/node_modules/jose/dist/webapi/jws/'),
    re2js: file('/node_modules/re2js/'),
    http2: builtin('http2'),
    tls: builtin('tls'),
    undici: builtin('internal/deps/undici/undici'),
    yaml: file('/node_modules/yaml/'),
    jsYaml: file('/node_modules/js-yaml/'),
    cel: file('/node_modules/@marcbachmann/cel-js/'),
  };
}

describe('modules an idle proxy has loaded', () => {
  it('a plain sidecar (HTTP and TCP ingress, HTTP/1.1 outbound) loads none of the optional ones, in any thread', async () => {
    const [app, tcp, ingressHttp, ingressTcp] = await freePorts(4);
    const threads = await loadedModules(
      toYaml(
        serviceEntry({ name: 'web', host: 'web.default.svc.cluster.local', port: 80, endpoints: [{ port: app }] }),
        sidecar('default', {
          ingress: [
            { port: { number: ingressHttp, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app}` },
            { port: { number: ingressTcp, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${tcp}` },
          ],
        }),
      ) + `---\n${PLAINTEXT}`,
    );
    expect(threads).toHaveLength(3);
    for (const t of threads) {
      // the probe saw the proxy's own modules load in this thread: the shipped bundle's chunks, and
      // none of the per-file build (a worker started from dist/worker/ would load that whole tree)
      expect(t.files.some((u) => u.startsWith(`${OUR_DIST}bundle/`)), t.thread).toBe(true);
      expect(t.files.filter((u) => u.startsWith(OUR_DIST) && !u.startsWith(`${OUR_DIST}bundle/`)), t.thread).toEqual([]);
      expect(optionalLoaded(t), t.thread).toEqual({ grpc: false, protobufjs: false, nodeForge: false, joseVerify: false, re2js: false, http2: false, tls: false, undici: false, yaml: false, jsYaml: false, cel: false });
    }
  });

  it('a config with a JWT rule, an HTTP/2 upstream and a regex match loads jose, node:http2 and re2js in the workers when it is applied', async () => {
    const jwks = await readFile(join(ROOT, '..', 'shared', 'conformance', 'istio', 'tests', 'common', 'jwt', 'jwks.json'), 'utf8');
    const [app, ingressHttp] = await freePorts(2);
    const threads = await loadedModules(
      [
        toYaml(
          serviceEntry({ name: 'grpc', host: 'grpc.default.svc.cluster.local', ports: [{ number: 80, name: 'http2', protocol: 'HTTP2' }], endpoints: [{ port: app, portName: 'http2' }] }),
          destinationRule('grpc', { host: 'grpc.default.svc.cluster.local', trafficPolicy: { tls: { mode: 'DISABLE' } } }),
          virtualService('grpc', { hosts: ['grpc.default.svc.cluster.local'], http: [{ match: [{ uri: { regex: '/api/v[0-9]+/.*' } }], route: [{ destination: { host: 'grpc.default.svc.cluster.local' } }] }] }),
          sidecar('default', { ingress: [{ port: { number: ingressHttp, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app}` }] }),
        ),
        PLAINTEXT,
        stringify({
          apiVersion: 'security.istio.io/v1',
          kind: 'RequestAuthentication',
          metadata: { name: 'jwt', namespace: 'default' },
          spec: { jwtRules: [{ issuer: 'test-issuer-1@istio.io', jwks }] },
        }),
      ].join('---\n'),
    );
    const workers = threads.filter((t) => t.files.some((u) => u.endsWith('/dist/bundle/worker.js')));
    expect(workers).toHaveLength(2);
    for (const t of workers) {
      expect(optionalLoaded(t), t.thread).toMatchObject({ joseVerify: true, http2: true, re2js: true, grpc: false, undici: false });
    }
  });

  it('a config with a TLS upstream (DestinationRule SIMPLE) loads node:tls in the workers when it is applied, and nothing else optional', async () => {
    const [app, ingressHttp] = await freePorts(2);
    const threads = await loadedModules(
      [
        toYaml(
          serviceEntry({ name: 'secure', host: 'secure.example.com', port: 443, endpoints: [{ port: app }] }),
          destinationRule('secure', { host: 'secure.example.com', trafficPolicy: { tls: { mode: 'SIMPLE' } } }),
          sidecar('default', { ingress: [{ port: { number: ingressHttp, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app}` }] }),
        ),
        PLAINTEXT,
      ].join('---\n'),
    );
    const workers = threads.filter((t) => t.files.some((u) => u.endsWith('/dist/bundle/worker.js')));
    expect(workers).toHaveLength(2);
    for (const t of workers) {
      expect(optionalLoaded(t), t.thread).toEqual({ grpc: false, protobufjs: false, nodeForge: false, joseVerify: false, re2js: false, http2: false, tls: true, undici: false, yaml: false, jsYaml: false, cel: false });
    }
  });
});
