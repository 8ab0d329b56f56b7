import { describe, expect, it } from 'vitest';
import { ProxyConfigError, writeAllDump, writeAllSummary, type ConfigDump } from '../../../src/cli/proxy-config/index.js';
import { istioctlDump, istioctlFile } from './fixtures.js';

const DUMP = 'proxyconfig/testdata/config_dump.json';
// istioctl's test runs at the current time: the workload certificate (May 2023) has expired, the root (to 2033) has not
const NOW = new Date('2026-01-01T00:00:00Z');

describe('proxy-config all', () => {
  it("writes istioctl's summary of its test dump byte for byte", () => {
    expect(writeAllSummary(istioctlDump(DUMP), { now: NOW })).toBe(istioctlFile('proxyconfig/testdata/config_dump_summary.txt'));
  });

  it('--with-headers: a header and a blank line before each section', () => {
    const sections = istioctlFile('proxyconfig/testdata/config_dump_summary.txt').split('\n\n');
    const headers = ['BOOTSTRAP INFO', 'CLUSTER INFO', 'LISTENER INFO', 'ROUTE INFO', 'SECRET INFO', 'ENDPOINTS INFO'];
    expect(sections).toHaveLength(6);
    const expected = sections.map((s, i) => `------ ${headers[i]} ------\n\n${s}`).join('\n\n');
    expect(writeAllSummary(istioctlDump(DUMP), { now: NOW, withHeaders: true })).toBe(expected);
  });

  it('VALID CERT is judged at `now`', () => {
    const out = writeAllSummary(istioctlDump(DUMP), { now: new Date('2023-05-15T12:00:00Z') });
    expect(out).toContain('secret/default     Cert Chain     ACTIVE     true           6fbee254c22900615cb1f74e3d2f1713');
  });

  it('filters apply per section (--port to clusters, listeners and endpoints)', () => {
    const out = writeAllSummary(istioctlDump(DUMP), { now: NOW, cluster: { port: 8000 }, listener: { port: 15021 }, endpoint: { port: 15000 } });
    expect(out).toContain(
      [
        'NAME                                                                SERVICE FQDN                          PORT     SUBSET     DIRECTION       TYPE     DESTINATION RULE',
        'cluster/inbound-vip|8000|http|httpbin.default.svc.cluster.local     httpbin.default.svc.cluster.local     8000     http       inbound-vip     EDS      ',
        '',
        'NAME      ADDRESSES PORT  MATCH DESTINATION',
        'listener/ 0.0.0.0   15021 ALL   Inline Route: /healthz/ready*',
        '',
      ].join('\n'),
    );
    expect(out.endsWith(`NAME${' '.repeat(25)}STATUS      LOCALITY     CLUSTER\nendpoint/127.0.0.1:15000     HEALTHY${' '.repeat(18)}prometheus_stats\n`)).toBe(true);
  });

  it('a section that fails ends the output; the error carries what was written before it', () => {
    const full = istioctlDump(DUMP);
    const noRoutes: ConfigDump = { configs: full.configs.filter((c) => c['@type'] !== 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump') };
    let error: unknown;
    try {
      writeAllSummary(noRoutes, { now: NOW });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ProxyConfigError);
    expect((error as ProxyConfigError).message).toBe('config dump has no configuration type type.googleapis.com/envoy.admin.v3.RoutesConfigDump');
    const golden = istioctlFile('proxyconfig/testdata/config_dump_summary.txt');
    expect((error as ProxyConfigError).output).toBe(`${golden.slice(0, golden.indexOf('NAME                                                              VHOST NAME'))}`);
  });

  it('-o json prints the dump as fetched; -o yaml converts it as sigs.k8s.io/yaml does (snake_case keys, sorted)', () => {
    const text = istioctlFile(DUMP);
    expect(writeAllDump(text, 'json')).toBe(`${text}\n`);
    const yaml = writeAllDump(text, 'yaml');
    expect(yaml.startsWith("configs:\n- '@type': type.googleapis.com/envoy.admin.v3.BootstrapConfigDump\n  bootstrap:\n    node:\n")).toBe(true);
    expect(yaml).toContain('        ISTIO_VERSION: 1.21.0-1226\n        metadata:\n          build.label: dev\n');
    expect(yaml).toContain('  last_updated: "2023-12-26T05:57:09.894Z"\n');
    expect(yaml.endsWith('\n\n')).toBe(true);
  });
});
