// The capture init container's arguments for every input of Istio's injector tests
// (../shared/conformance/istio/pkg/kube/inject/testdata/inject/: inputs *.yaml, Istio's output
// *.yaml.injected): equal to the istio-init (or, with CNI, istio-validation) arguments Istio wrote,
// pod template by pod template, with the injector settings Istio's test used for that case.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { capturesTraffic, istioIptablesArgs } from '../../src/inject/iptables-args.js';
import { ISTIO_INJECTION_DEFAULTS, type InjectionSettings } from '../../src/inject/settings.js';
import { podTemplatesOf, proxyRunAsUserOverride, type KubeObject, type PodTemplate } from '../../src/inject/workloads.js';
import { CONFORMANCE } from '../config/security-helpers.js';

const DIR = `${CONFORMANCE}pkg/kube/inject/testdata/inject/`;

/** Istio's test cases whose injector settings shape the init container (inject_test.go's table), by output file. */
const SETTINGS: Record<string, { in: string; settings: Partial<InjectionSettings>; openShift?: true }> = {
  'hello.yaml.cni.injected': { in: 'hello.yaml', settings: { cni: true } },
  'hello.yaml.proxyInitImageName.injected': { in: 'hello.yaml', settings: {} },
  'hello-tproxy.yaml.injected': { in: 'hello.yaml', settings: { interceptionMode: 'TPROXY' } },
  'traffic-params.yaml.injected': { in: 'traffic-params.yaml', settings: { includeIPRanges: '127.0.0.1/24,10.96.0.1/24', excludeIPRanges: '10.96.0.2/24,10.96.0.3/24', excludeInboundPorts: '4,5,6', statusPort: 0 } },
  'status_params.yaml.injected': { in: 'status_params.yaml', settings: { statusPort: 123 } },
  'kubevirtInterfaces.yaml.injected': { in: 'kubevirtInterfaces.yaml', settings: { statusPort: 123 } },
  'reroute-virtual-interfaces.yaml.injected': { in: 'reroute-virtual-interfaces.yaml', settings: { statusPort: 123 } },
  'proxy-override-runas.yaml.cni.injected': { in: 'proxy-override-runas.yaml', settings: { cni: true } },
  'proxy-override-runas.yaml.tproxy.injected': { in: 'proxy-override-runas.yaml', settings: { interceptionMode: 'TPROXY' } },
  // the CNI plugin behind Multus, and on OpenShift: CNI validation either way
  'hello-cncf-networks.yaml.injected': { in: 'hello.yaml', settings: { cni: true } },
  'hello-existing-cncf-networks.yaml.injected': { in: 'hello-existing-cncf-networks.yaml', settings: { cni: true } },
  'hello-existing-cncf-networks-json.yaml.injected': { in: 'hello-existing-cncf-networks-json.yaml', settings: { cni: true } },
  // the proxy's uid on OpenShift: the top of the namespace's openshift.io/sa.scc.uid-range (Istio's test: 1000620000/10000)
  'hello-openshift.yaml.injected': { in: 'hello-openshift.yaml', settings: { cni: true, proxyUid: 1000629999 }, openShift: true },
  'hello-openshift-custom-injection.yaml.injected': { in: 'hello-openshift-custom-injection.yaml', settings: { cni: true, proxyUid: 1000629999 }, openShift: true },
  'hello-openshift-tproxy.yaml.injected': { in: 'hello-openshift-tproxy.yaml', settings: { cni: true }, openShift: true },
};

const containers = (t: PodTemplate) => [...((t.spec.initContainers ?? []) as KubeObject[]), ...((t.spec.containers ?? []) as KubeObject[])];

function templates(file: string): PodTemplate[] {
  return parseAllDocuments(readFileSync(`${DIR}${file}`, 'utf8')).flatMap((d) => podTemplatesOf(d.toJS() as KubeObject));
}

/** Every case: the table's, then each input beside its own `.injected` (as Istio's test adds them). */
function cases(): { out: string; in: string; settings: InjectionSettings; openShift?: true }[] {
  const files = readdirSync(DIR);
  const out: ReturnType<typeof cases> = Object.entries(SETTINGS).map(([o, c]) => ({ out: o, in: c.in, settings: { ...ISTIO_INJECTION_DEFAULTS, ...c.settings }, ...(c.openShift ? { openShift: c.openShift } : {}) }));
  for (const f of files) {
    if (!f.endsWith('.yaml') || f.endsWith('.iop.yaml') || !files.includes(`${f}.injected`) || SETTINGS[`${f}.injected`]) continue;
    out.push({ out: `${f}.injected`, in: f, settings: ISTIO_INJECTION_DEFAULTS });
  }
  return out;
}

describe("the capture init container's arguments, against Istio's injector goldens", () => {
  const all = cases();
  const compares: number[] = [];
  it('covers the goldens', () => expect(all.length).toBeGreaterThanOrEqual(90));
  afterAll(() => {
    // most goldens have a capture init container to compare with
    expect(compares.filter((n) => n > 0).length).toBeGreaterThanOrEqual(80);
  });

  for (const c of all) {
    it(`${c.out}`, () => {
      const ins = templates(c.in);
      const outs = templates(c.out);
      expect(outs.length).toBe(ins.length);
      let compared = 0;
      ins.forEach((t, i) => {
        const annotations = t.metadata.annotations ?? {};
        const init = ((outs[i].spec.initContainers ?? []) as KubeObject[]).find((x) => x.name === 'istio-init' || x.name === 'istio-validation');
        // a pod that supplies its own istio-init keeps it (Istio's overrides): nothing of ours to compare
        if (containers(t).some((x) => x.name === 'istio-init')) return;
        if (!init) {
          // no capture init container: injection skipped, or a template that does not capture, or NONE
          if (outs[i].metadata.annotations?.['sidecar.istio.io/status'] !== undefined) expect(capturesTraffic(annotations, c.settings), `${c.in} template ${i}`).toBe(false);
          return;
        }
        expect(capturesTraffic(annotations, c.settings), `${c.in} template ${i}`).toBe(true);
        expect(istioIptablesArgs(annotations, c.settings, proxyRunAsUserOverride(t, c.openShift)), `${c.in} template ${i}`).toEqual(init.args);
        compared++;
      });
      compares.push(compared);
    });
  }
});
