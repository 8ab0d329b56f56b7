import { describe, expect, it } from 'vitest';
import { writeBootstrapDump, writeBootstrapSummary, type ConfigDump } from '../../../src/cli/proxy-config/index.js';
import { istioctlDump } from './fixtures.js';

// the node as a Go tool writes it: JSON names instead of the protos' own (both are proto JSON)
const CAMEL_CASE: ConfigDump = {
  configs: [
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
      bootstrap: {
        node: {
          metadata: { ISTIO_PROXY_SHA: 'istio-proxy:436f365a8007cd8a13a9f1321e7cce94bcc8883e', ISTIO_VERSION: '1.10.0' },
          userAgentBuildVersion: {
            version: { majorNumber: 1, minorNumber: 18, patch: 3 },
            metadata: { 'build.type': 'RELEASE', 'revision.sha': '436f365a8007cd8a13a9f1321e7cce94bcc8883e', 'revision.status': 'Clean', 'ssl.version': 'BoringSSL' },
          },
        },
      },
    },
  ],
};

describe('proxy-config bootstrap', () => {
  it("the version lines: Istio's from the node metadata, Envoy's from the build version (0.0.0 without one)", () => {
    expect(writeBootstrapSummary(istioctlDump('proxyconfig/testdata/config_dump.json'))).toBe(
      'Istio Version:       1.21.0-1226\nIstio Proxy Version: ee85c5f28702f00621aed895915fca565796b9e4\nEnvoy Version:       0.0.0\n',
    );
    expect(writeBootstrapSummary(CAMEL_CASE)).toBe('Istio Version:       1.10.0\nIstio Proxy Version: 436f365a8007cd8a13a9f1321e7cce94bcc8883e\nEnvoy Version:       1.18.3/Clean/RELEASE/BoringSSL\n');
  });

  it('a build label follows the version; absent Istio fields are left out', () => {
    const dump: ConfigDump = {
      configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: { user_agent_build_version: { version: { major_number: 1, minor_number: 30 }, metadata: { 'build.label': 'dev' } } } } }],
    };
    expect(writeBootstrapSummary(dump)).toBe('Envoy Version: 1.30.0-dev\n');
  });

  it('-o json: jsonpb with its indent, Struct entries one level deeper than fields', () => {
    expect(writeBootstrapDump(CAMEL_CASE, 'json')).toBe(
      [
        '{',
        '    "bootstrap": {',
        '        "node": {',
        '            "metadata": {',
        '                    "ISTIO_PROXY_SHA": "istio-proxy:436f365a8007cd8a13a9f1321e7cce94bcc8883e",',
        '                    "ISTIO_VERSION": "1.10.0"',
        '                },',
        '            "userAgentBuildVersion": {',
        '                "version": {',
        '                    "majorNumber": 1,',
        '                    "minorNumber": 18,',
        '                    "patch": 3',
        '                },',
        '                "metadata": {',
        '                        "build.type": "RELEASE",',
        '                        "revision.sha": "436f365a8007cd8a13a9f1321e7cce94bcc8883e",',
        '                        "revision.status": "Clean",',
        '                        "ssl.version": "BoringSSL"',
        '                    }',
        '            }',
        '        }',
        '    }',
        '}',
        '',
      ].join('\n'),
    );
  });
});
