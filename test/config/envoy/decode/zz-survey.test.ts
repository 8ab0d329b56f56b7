import { it } from 'vitest';
import { DUMP_FILES, dumpListeners, dumpRouteConfigs } from '/work/wt-xds-lds/test/config/envoy/decode/config-dumps.js';
import { decodeListener } from '/work/wt-xds-lds/src/config/envoy/decode/listener.js';
import { decodeRouteConfiguration } from '/work/wt-xds-lds/src/config/envoy/decode/route-configuration.js';
const node = { id: 'x', mode: 'sidecar', namespace: 'default', serviceAccount: 'default', labels: {}, ip: '10.0.0.5', trustDomain: 'cluster.local', domainSuffix: 'cluster.local', acceptHttp10: false, clusterId: 'Kubernetes', locality: '' } as const;
it('survey', () => {
  for (const f of DUMP_FILES) {
    for (const l of dumpListeners(f)) {
      const warnings: string[] = [];
      try { const d = decodeListener(l.message, { node: node as any, warn: (w) => warnings.push(w) }); console.log('OK L', f, l.name, d.rdsNames.join(','), warnings.length, warnings.join(' | ')); }
      catch (e) { console.log('ERR L', f, l.name, (e as Error).message); }
    }
    for (const r of dumpRouteConfigs(f)) {
      const warnings: string[] = [];
      try { decodeRouteConfiguration(r.message, { node: node as any, warn: (w) => warnings.push(w) }); console.log('OK R', f, r.name, warnings.length, warnings.slice(0,2).join(' | ')); }
      catch (e) { console.log('ERR R', f, r.name, (e as Error).message); }
    }
  }
});
