// outrigger inject on the command line: Istio's injector inputs in, the injected YAML out (to
// stdout or -o), its image and mounts from the flags, warnings for what it leaves, usage errors.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { podTemplatesOf, type KubeObject } from '../../src/inject/workloads.js';
import { CONFORMANCE } from '../config/security-helpers.js';
import { runCli } from '../helpers/proxy.js';

const DIR = `${CONFORMANCE}pkg/kube/inject/testdata/inject/`;
let out: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'outrigger-inject-'));
});

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

const templates = (yaml: string) => parseAllDocuments(yaml).flatMap((d) => podTemplatesOf(d.toJS() as KubeObject));

describe('outrigger inject', () => {
  it('writes the injected YAML: the capture init container and the sidecar, with the image, ConfigMap and certificate Secret asked for', async () => {
    const r = await runCli(['inject', '-f', `${DIR}hello.yaml`, '--image', 'registry.example/outrigger:1.2.3', '--config-map', 'mesh', '--cert-secret', 'certs-{sa}']);
    expect(r.code, r.stderr).toBe(0);
    const [t] = templates(r.stdout);
    expect(t.spec.initContainers.map((c: KubeObject) => [c.name, c.image, c.command?.[0]])).toEqual([['istio-init', 'registry.example/outrigger:1.2.3', 'init-iptables']]);
    expect(t.spec.containers.map((c: KubeObject) => c.name)).toEqual(['hello', 'istio-proxy']);
    expect(t.spec.volumes).toEqual([{ name: 'outrigger-config', configMap: { name: 'mesh' } }, { name: 'outrigger-certs', secret: { secretName: 'certs-default' } }]);
  });

  it('--native-sidecar and -o: the proxy as an init container with restartPolicy Always, written to the file', async () => {
    const file = join(out, 'hello.yaml');
    const r = await runCli(['inject', '-f', `${DIR}hello.yaml`, '--native-sidecar', '-o', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const [t] = templates(await readFile(file, 'utf8'));
    expect(t.spec.initContainers.map((c: KubeObject) => [c.name, c.restartPolicy])).toEqual([['istio-init', undefined], ['istio-proxy', 'Always']]);
    // injecting the output again changes nothing
    const again = await runCli(['inject', '-f', file, '--native-sidecar']);
    expect(again.stdout).toBe(await readFile(file, 'utf8'));
  });

  it('a pod of another template is left, with a warning; an opted-out one silently', async () => {
    const gw = await runCli(['inject', '-f', `${DIR}gateway.yaml`]);
    expect(gw.code).toBe(0);
    expect(gw.stderr).toMatch(/^warning: .*gateway\.yaml, document 1 \(Deployment \S+\): not injected: inject\.istio\.io\/templates: gateway: outrigger inject has the sidecar template only$/m);
    const ignore = await runCli(['inject', '-f', `${DIR}hello-ignore.yaml`]);
    expect(ignore.stderr).toBe('');
    expect(templates(ignore.stdout)[0].spec.containers.map((c: KubeObject) => c.name)).toEqual(['hello']);
  });

  it('usage: -f is needed; flags of other commands are refused', async () => {
    const none = await runCli(['inject']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('inject needs -f <file> (- for standard input)');
    const other = await runCli(['inject', '-f', `${DIR}hello.yaml`, '--fqdn', 'x']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('--fqdn is not a flag of "outrigger inject"');
  });
});
