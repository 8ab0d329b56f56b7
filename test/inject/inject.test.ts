// outrigger inject over every input of Istio's injector tests: the pods Istio injects are
// injected (those it leaves, left), with the capture init container's arguments equal to Istio's
// and the sidecar's invariants (Istio's names, the Prometheus port, the downward-API identity, the
// config and certificate volumes, the status annotation naming what was added); injecting the
// output again changes nothing.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { injectObject, skipReason, STATUS_ANNOTATION, type InjectOptions } from '../../src/inject/inject.js';
import { ISTIO_INJECTION_DEFAULTS } from '../../src/inject/settings.js';
import { CERT_DIR, CONFIG_DIR, DEFAULT_SIDECAR } from '../../src/inject/sidecar.js';
import { podTemplatesOf, type KubeObject } from '../../src/inject/workloads.js';
import { CONFORMANCE } from '../config/security-helpers.js';
import { kubernetesSchemaErrors } from '../helpers/kubernetes-schema.js';

const DIR = `${CONFORMANCE}pkg/kube/inject/testdata/inject/`;
const docs = (file: string) => parseAllDocuments(readFileSync(`${DIR}${file}`, 'utf8')).map((d) => d.toJS() as KubeObject).filter(Boolean);

/** The inputs Istio's test injects with its default settings (the others need settings of its test table). */
const DEFAULT_CASES = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && !f.endsWith('.iop.yaml') && readdirSync(DIR).includes(`${f}.injected`))
  .filter((f) => !['traffic-params.yaml', 'status_params.yaml', 'kubevirtInterfaces.yaml', 'reroute-virtual-interfaces.yaml', 'proxy-override-runas.yaml', 'custom-template.yaml'].includes(f) && !f.startsWith('hello-openshift') && !f.includes('cncf-networks'));

/** Outputs with no schema in Kubernetes' API: OpenShift's DeploymentConfig (its group, and the legacy v1 spelling). */
const EXPECTED_UNCHECKED = ['apps.openshift.io/v1/DeploymentConfig', 'v1/DeploymentConfig'];

const container = (t: { spec: KubeObject }, name: string): KubeObject | undefined => [...(t.spec.initContainers ?? []), ...(t.spec.containers ?? [])].find((c: KubeObject) => c.name === name);

describe('outrigger inject over Istio\'s injector inputs', () => {
  it('covers them', () => expect(DEFAULT_CASES.length).toBeGreaterThanOrEqual(50));
  /** apiVersion/kind of outputs without a schema to check (OpenShift's DeploymentConfig, old API versions). */
  const unchecked: string[] = [];
  afterAll(() => {
    expect([...new Set(unchecked)].sort()).toEqual(EXPECTED_UNCHECKED);
  });

  for (const file of DEFAULT_CASES) {
    it(file, () => {
      const input = docs(file);
      const golden = docs(`${file}.injected`).flatMap(podTemplatesOf);
      const out = structuredClone(input);
      // native or not as Istio's output has the proxy (its tests' default: native)
      const native = golden.some((t) => ((t.spec.initContainers ?? []) as KubeObject[]).some((c) => c.name === 'istio-proxy'));
      const options: InjectOptions = { settings: ISTIO_INJECTION_DEFAULTS, sidecar: DEFAULT_SIDECAR, nativeSidecars: native };
      for (const o of out) injectObject(o, options);
      const templates = out.flatMap(podTemplatesOf);
      expect(templates.length).toBe(golden.length);
      const inputTemplates = input.flatMap(podTemplatesOf);
      templates.forEach((t, i) => {
        const g = golden[i];
        // (istioctl kube-inject writes a CronJob's status on its jobTemplate; ours is on the pod template)
        const istioInjected = (g.metadata.annotations ?? g.owner.spec?.jobTemplate?.metadata?.annotations)?.[STATUS_ANNOTATION] !== undefined;
        const proxy = container(t, 'istio-proxy');
        const skip = skipReason(inputTemplates[i]);
        if (!istioInjected || skip) {
          // left as it is: where Istio leaves it, and (not opted out) a template other than the sidecar
          if (istioInjected) expect(skip?.reason, `${file} template ${i}`).toMatch(/^inject\.istio\.io\/templates: .*outrigger inject has the sidecar template only$/);
          expect(t.metadata.annotations?.[STATUS_ANNOTATION], `${file} template ${i}`).toBeUndefined();
          return;
        }
        // the capture rules: Istio's arguments (unless the pod supplies its own istio-init)
        const istioInit = container(g, 'istio-init');
        const ownInit = container(inputTemplates[i], 'istio-init');
        if (istioInit && !ownInit) expect(container(t, 'istio-init')?.args, `${file} template ${i}`).toEqual(istioInit.args);
        if (!istioInit) expect(container(t, 'istio-init'), `${file} template ${i}`).toBeUndefined();
        // the sidecar: Istio's name and Prometheus port, its identity from the downward API, the config and certificates mounted
        expect(proxy, `${file} template ${i}`).toBeDefined();
        expect(proxy!.ports).toContainEqual({ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' });
        const env = new Map(((proxy!.env ?? []) as KubeObject[]).map((e) => [e.name, e]));
        expect(env.get('POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
        expect(env.get('SERVICE_ACCOUNT')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.serviceAccountName');
        expect(env.get('INSTANCE_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
        expect(((proxy!.volumeMounts ?? []) as KubeObject[]).map((m) => m.mountPath)).toEqual(expect.arrayContaining([CONFIG_DIR, CERT_DIR]));
        // what was added, by name, as Istio's status annotation says it
        const status = JSON.parse(t.metadata.annotations[STATUS_ANNOTATION]);
        const names = (list: KubeObject[] | undefined) => (list ?? []).map((c) => c.name);
        for (const n of status.initContainers ?? []) expect(names(t.spec.initContainers)).toContain(n);
        for (const n of status.containers ?? []) expect(names(t.spec.containers)).toContain(n);
        for (const n of status.volumes ?? []) expect(names(t.spec.volumes)).toContain(n);
        // the app's probes and hooks sent to the status port, as Istio rewrote them, the originals in ISTIO_KUBE_APP_PROBERS
        const probersOf = (c: KubeObject | undefined) => ((c?.env ?? []) as KubeObject[]).find((e) => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value;
        expect(env.get('ISTIO_KUBE_APP_PROBERS')?.value, `${file} template ${i}`).toBe(probersOf(container(g, 'istio-proxy')));
        for (const app of (g.spec.containers ?? []) as KubeObject[]) {
          if (app.name === 'istio-proxy') continue;
          const ours = container(t, app.name)!;
          for (const f of ['livenessProbe', 'readinessProbe', 'startupProbe']) expect(ours[f], `${file} ${app.name}.${f}`).toEqual(app[f]);
          for (const h of ['postStart', 'preStop']) if (app.lifecycle?.[h]?.httpGet) expect(ours.lifecycle?.[h], `${file} ${app.name}.lifecycle.${h}`).toEqual(app.lifecycle[h]);
        }
        const istioLabels = g.metadata.labels ?? g.owner.spec?.jobTemplate?.metadata?.labels;
        expect(t.metadata.labels['security.istio.io/tlsMode']).toBe(istioLabels['security.istio.io/tlsMode']);
        expect(t.metadata.labels['service.istio.io/canonical-name']).toBe(istioLabels['service.istio.io/canonical-name']);
      });
      // every output object is one the API server takes (its kinds that have a schema)
      for (const o of out) expect(kubernetesSchemaErrors(o, unchecked), file).toEqual([]);
      // idempotent: the output injected again is the output
      const again = structuredClone(out);
      for (const o of again) injectObject(o, options);
      expect(again).toEqual(out);
    });
  }
});
