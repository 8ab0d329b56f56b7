// holdApplicationUntilProxyStarts: without native sidecars, the proxy goes first and its
// postStart hook (outrigger wait) holds the app containers until it is ready; a native sidecar's
// startup probe does that instead.
import { describe, expect, it } from 'vitest';
import { injectObject } from '../../src/inject/inject.js';
import { ISTIO_INJECTION_DEFAULTS } from '../../src/inject/settings.js';
import { DEFAULT_SIDECAR } from '../../src/inject/sidecar.js';
import { podTemplatesOf, type KubeObject } from '../../src/inject/workloads.js';

const deployment = (annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' }, annotations }, spec: { containers: [{ name: 'web', image: 'web' }] } } },
});

function injected(obj: KubeObject, hold: boolean, native: boolean): KubeObject {
  injectObject(obj, { settings: { ...ISTIO_INJECTION_DEFAULTS, holdApplicationUntilProxyStarts: hold }, sidecar: DEFAULT_SIDECAR, nativeSidecars: native });
  return podTemplatesOf(obj)[0].spec;
}

const WAIT = { postStart: { exec: { command: ['node', '/app/bin/outrigger.js', 'wait'] } } };

describe('holdApplicationUntilProxyStarts', () => {
  it('from the mesh default: the proxy first, waiting in its postStart hook', () => {
    const spec = injected(deployment(), true, false);
    expect(spec.containers.map((c: KubeObject) => c.name)).toEqual(['istio-proxy', 'web']);
    expect(spec.containers[0].lifecycle).toEqual(WAIT);
  });

  it("from the pod's ProxyConfig annotation, over the mesh's", () => {
    const held = injected(deployment({ 'proxy.istio.io/config': '{ "holdApplicationUntilProxyStarts": true }' }), false, false);
    expect(held.containers[0]).toMatchObject({ name: 'istio-proxy', lifecycle: WAIT });
    const released = injected(deployment({ 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: false' }), true, false);
    expect(released.containers.map((c: KubeObject) => [c.name, c.lifecycle])).toEqual([['web', undefined], ['istio-proxy', undefined]]);
  });

  it('a native sidecar holds the app by its startup probe: no hook', () => {
    const spec = injected(deployment(), true, true);
    const proxy = spec.initContainers.find((c: KubeObject) => c.name === 'istio-proxy');
    expect(proxy.lifecycle).toBeUndefined();
    expect(proxy.startupProbe).toMatchObject({ httpGet: { path: '/healthz/ready', port: 15021 } });
    expect(spec.containers.map((c: KubeObject) => c.name)).toEqual(['web']);
  });
});
