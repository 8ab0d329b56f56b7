import { describe, expect, it } from 'vitest';
import { ProxyConfigError, writeSecretDump, writeSecretSummary, type ConfigDump } from '../../../src/cli/proxy-config/index.js';
import { istioctlDump } from './fixtures.js';

const ISTIO = 'writer/envoy/configdump/testdata/secret/istio/config_dump.json';
const SPIRE = 'writer/envoy/configdump/testdata/secret/spire/config_dump.json';
const NOW = new Date('2026-01-01T00:00:00Z');

const secretsDump = (section: object): ConfigDump => ({ configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump', ...section }] });
const SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

describe('proxy-config secret', () => {
  it('warming, then active secrets, with what their first certificate says', () => {
    expect(writeSecretSummary(istioctlDump(ISTIO), { now: NOW })).toBe(
      [
        'RESOURCE NAME              TYPE           STATUS      VALID CERT     SERIAL NUMBER                        NOT AFTER                NOT BEFORE',
        `configmap://some/thing                    WARMING     false${' '.repeat(72)}`,
        'default                    Cert Chain     ACTIVE      false          6fbee254c22900615cb1f74e3d2f1713     2023-05-16T01:32:52Z     2023-05-15T01:30:52Z',
        'ROOTCA                     CA             ACTIVE      true           0193a543fe2b0d9cd4847675394dfc54     2033-05-02T03:41:33Z     2023-05-05T03:41:33Z',
        '',
      ].join('\n'),
    );
  });

  it('SPIFFE: one row per trust domain bundle, and a TRUST DOMAIN column when every row has one', () => {
    expect(writeSecretSummary(istioctlDump(SPIRE), { now: NOW })).toBe(
      [
        'RESOURCE NAME     TYPE           STATUS     VALID CERT     SERIAL NUMBER                                NOT AFTER                NOT BEFORE               TRUST DOMAIN',
        'default           Cert Chain     ACTIVE     false          cd4902e499169b11ec171dad1668adbb             2024-10-27T22:44:37Z     2024-10-27T21:44:27Z     east.local',
        'ROOTCA            CA             ACTIVE     true           529cbbaf623611d057b517d4ffe341e4e8035037     2034-10-23T13:23:05Z     2024-10-25T13:23:05Z     east.local',
        'ROOTCA            CA             ACTIVE     true           6726e5fad145f8ca9a711f0550297ced839ee37f     2034-10-23T13:23:05Z     2024-10-25T13:23:05Z     west.local',
        '',
      ].join('\n'),
    );
  });

  it('VALID CERT: strictly between NOT BEFORE and NOT AFTER at `now`', () => {
    const valid = (now: string) =>
      writeSecretSummary(istioctlDump(ISTIO), { now: new Date(now) })
        .split('\n')
        .slice(2, 4)
        .map((l) => l.split(/ {2,}/)[3]);
    expect(valid('2023-05-15T01:30:52Z')).toEqual(['false', 'true']);
    expect(valid('2023-05-15T01:30:53Z')).toEqual(['true', 'true']);
    expect(valid('2033-05-02T03:41:33Z')).toEqual(['false', 'false']);
  });

  it('`secret/` names in `all`', () => {
    expect(writeSecretSummary(istioctlDump(ISTIO), { now: NOW, includeConfigType: true }).split('\n')[3]).toBe(
      'secret/ROOTCA                     CA             ACTIVE      true           0193a543fe2b0d9cd4847675394dfc54     2033-05-02T03:41:33Z     2023-05-05T03:41:33Z',
    );
  });

  it('no secrets, no items, no section, a secret without its Any', () => {
    expect(writeSecretSummary(secretsDump({}))).toBe('No active or warming secrets found.\n');
    const noBundles = { name: 'ROOTCA', secret: { '@type': SECRET, name: 'ROOTCA', validation_context: { custom_validator_config: { typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig' } } } } };
    expect(writeSecretSummary(secretsDump({ dynamic_active_secrets: [noBundles] }))).toBe('No secret items to show.\n');
    expect(() => writeSecretSummary({ configs: [] })).toThrow('config dump has no configuration type type.googleapis.com/envoy.admin.v3.SecretsConfigDump');
    expect(() => writeSecretSummary(secretsDump({ dynamic_active_secrets: [{ name: 'default' }] }))).toThrow(new ProxyConfigError('failed building warming secret default: proto: invalid nil source message'));
  });

  it('a secret without certificate bytes, or bytes that are not a PEM certificate: a row without certificate fields', () => {
    const out = writeSecretSummary(secretsDump({ dynamic_active_secrets: [{ name: 'odd', secret: { '@type': SECRET, name: 'odd', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('not a PEM').toString('base64') } } } }] }));
    expect(out).toBe(`RESOURCE NAME     TYPE     STATUS     VALID CERT     SERIAL NUMBER     NOT AFTER     NOT BEFORE\nodd                        ACTIVE     false${' '.repeat(42)}\n`);
  });

  it('-o json: the whole SecretsConfigDump as protomarshal writes it (jsonpb, 4-space indent); -o yaml', () => {
    const json = writeSecretDump(istioctlDump(ISTIO), 'json');
    expect(json.startsWith('{\n    "dynamicActiveSecrets": [\n        {\n            "name": "default",\n            "lastUpdated": "2023-05-15T01:32:52.262Z",\n            "secret": {\n                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",\n                "name": "default",\n                "tlsCertificate": {\n')).toBe(true);
    expect(json).toContain('\n    "dynamicWarmingSecrets": [\n        {\n            "name": "configmap://some/thing",\n            "versionInfo": "uninitialized",\n');
    expect(json.endsWith('\n    ]\n}\n')).toBe(true);
    const yaml = writeSecretDump(istioctlDump(ISTIO), 'yaml');
    expect(yaml).toContain('\ndynamicWarmingSecrets:\n- lastUpdated: "2025-04-11T14:59:35.648Z"\n  name: configmap://some/thing\n  secret:\n    \'@type\': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n    name: configmap://some/thing\n  versionInfo: uninitialized\n');
    expect(() => writeSecretDump({ configs: [] }, 'json')).toThrow("sidecar doesn't support secrets: config dump has no configuration type");
  });
});
