// outrigger webhook, Kubernetes' mutating admission webhook, called as the API server calls it:
// AdmissionReview v1 POSTed over HTTPS to /inject. The JSONPatch it answers, applied to the pod,
// gives what outrigger inject gives; opted-out and injected pods get none; malformed reviews a
// 400. The example manifests validate against Kubernetes' schemas.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { injectObject } from '../../src/inject/inject.js';
import { ISTIO_INJECTION_DEFAULTS } from '../../src/inject/settings.js';
import { DEFAULT_SIDECAR } from '../../src/inject/sidecar.js';
import type { KubeObject } from '../../src/inject/workloads.js';
import { createRootCa, issueWorkloadCert } from '../../src/security/ca.js';
import { kubernetesSchemaErrors } from '../helpers/kubernetes-schema.js';
import { freePort } from '../helpers/ports.js';
import { CLI, ROOT } from '../helpers/proxy.js';

let dir: string;
let port: number;
let ca: string;
let child: ChildProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-webhook-'));
  const root = await createRootCa({ trustDomain: 'cluster.local' });
  const cert = await issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', namespace: 'outrigger-system', serviceAccount: 'webhook', dnsNames: ['localhost'] });
  ca = root.certPem;
  await writeFile(join(dir, 'tls.crt'), cert.certChainPem);
  await writeFile(join(dir, 'tls.key'), cert.keyPem);
  port = await freePort();
  child = spawn(process.execPath, [CLI, 'webhook', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--port', String(port), '--image', 'registry.example/outrigger:1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  for (let i = 0; i < 100; i++) {
    if ((await post('/healthz', '').catch(() => ({ status: 0 }))).status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  child?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

function post(path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: 'localhost', port, path, method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pod = (labels: Record<string, string> = { app: 'web' }, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-7d4f8-', labels, annotations },
  spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'web', ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: '/ready', port: 8080 } } }] },
});

const review = (object: KubeObject) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'a1b2', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object } });

/** RFC 6902 add / replace / remove of the whole fields the webhook patches. */
function applyPatch(obj: KubeObject, ops: { op: string; path: string; value?: unknown }[]): KubeObject {
  const out = structuredClone(obj);
  for (const o of ops) {
    const keys = o.path.split('/').slice(1);
    const last = keys.pop()!;
    let at: KubeObject = out;
    for (const k of keys) at = at[k];
    if (o.op === 'remove') delete at[last];
    else at[last] = structuredClone(o.value);
  }
  return out;
}

describe('outrigger webhook', () => {
  it('answers with the JSONPatch that makes the pod what outrigger inject makes it', async () => {
    const p = pod();
    const r = await post('/inject', JSON.stringify(review(p)));
    expect(r.status).toBe(200);
    const answer = JSON.parse(r.text);
    expect(answer).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'a1b2', allowed: true, patchType: 'JSONPatch' } });
    const patched = applyPatch(p, JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')));
    const expected = structuredClone(p);
    expected.metadata.namespace = 'shop';
    injectObject(expected, { settings: ISTIO_INJECTION_DEFAULTS, sidecar: { ...DEFAULT_SIDECAR, image: 'registry.example/outrigger:1' }, nativeSidecars: false });
    delete expected.metadata.namespace;
    expect(patched).toEqual(expected);
    expect(patched.spec.containers.map((c: KubeObject) => c.name)).toEqual(['web', 'istio-proxy']);
    expect(patched.spec.containers[0].readinessProbe.httpGet).toEqual({ path: '/app-health/web/readyz', port: 15020 });
    expect(kubernetesSchemaErrors(patched)).toEqual([]);
  });

  it('no patch for a pod that opted out or is injected already', async () => {
    for (const p of [pod({ app: 'web', 'sidecar.istio.io/inject': 'false' }), pod({ app: 'web' }, { 'sidecar.istio.io/status': '{}' })]) {
      const answer = JSON.parse((await post('/inject', JSON.stringify(review(p)))).text);
      expect(answer.response).toEqual({ uid: 'a1b2', allowed: true });
    }
  });

  it('400 for what is not an AdmissionReview; 404 elsewhere', async () => {
    expect((await post('/inject', '{not json')).status).toBe(400);
    const noUid = await post('/inject', JSON.stringify({ kind: 'AdmissionReview', request: {} }));
    expect(noUid).toEqual({ status: 400, text: 'not an AdmissionReview with a request uid\n' });
    expect((await post('/other', '')).status).toBe(404);
  });

  it("the example manifests (webhook, its Service and Deployment) are Kubernetes' valid objects", async () => {
    const docs = parseAllDocuments(await readFile(join(ROOT, 'examples', 'k8s', 'sidecar-injector-webhook.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject);
    expect(docs.map((d) => d.kind)).toEqual(['Service', 'Deployment', 'MutatingWebhookConfiguration']);
    for (const d of docs) expect(kubernetesSchemaErrors(d), d.kind).toEqual([]);
  });
});
