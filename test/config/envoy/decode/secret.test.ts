// SDS Secrets (pilot-agent's `default` / `ROOTCA`, gateway credentials) decoded into the Snapshot's.
import { describe, expect, it } from 'vitest';
import { decodeSecret, type SecretMessage } from '../../../../src/config/envoy/decode/secret.js';
import { createRootCa, issueWorkloadCert } from '../../../../src/security/ca.js';
import { collectingContext, findTyped, JSON_DUMPS, plain, readDump } from './dumps.js';

const SECRET = 'envoy.extensions.transport_sockets.tls.v3.Secret';
const secret = (json: object) => plain<SecretMessage>(SECRET, json);
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('Secret', () => {
  it('the config dumps\' secrets: ROOTCA decodes; the redacted keys and the SPIFFE validator are refused', () => {
    const results = JSON_DUMPS.flatMap((f) => findTyped(readDump(f), 'tls.v3.Secret').map((json) => {
      try {
        const s = decodeSecret(secret(json), collectingContext());
        return `${s.name}: ${'validationContext' in s ? 'CA' : 'certificate'}`;
      } catch (e) {
        return (e as Error).message;
      }
    }));
    expect(results).toEqual([
      // istioctl's fixtures redact the private key ("[redacted]")
      expect.stringContaining('Secret default, field tls_certificate.private_key: the private key does not parse'),
      'ROOTCA: CA',
      expect.stringContaining('Secret default, field tls_certificate.private_key: the private key does not parse'),
      'ROOTCA: CA',
      'Secret configmap://some/thing: a secret needs tls_certificate or validation_context',
      expect.stringContaining('Secret default, field tls_certificate.private_key'),
      'Secret ROOTCA, field validation_context.custom_validator_config: custom certificate validators (e.g. SPIFFE trust-domain bundles) are not supported',
    ]);
  });

  it('a workload certificate (inline bytes, as pilot-agent sends it) and a CA from a file', async () => {
    const ca = await createRootCa({ trustDomain: 'cluster.local' });
    const cert = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'ns', serviceAccount: 'sa' });
    expect(decodeSecret(secret({ name: 'default', tls_certificate: { certificate_chain: { inline_bytes: b64(cert.certChainPem) }, private_key: { inline_bytes: b64(cert.keyPem) } } }), collectingContext())).toEqual({
      name: 'default',
      tlsCertificate: { certificateChain: cert.certChainPem, privateKey: cert.keyPem },
    });
    const files: Record<string, string> = { '/etc/certs/root-cert.pem': ca.certPem };
    const read = (p: string) => files[p] ?? (() => { throw new Error('ENOENT'); })();
    expect(decodeSecret(secret({ name: 'file-root:/etc/certs/root-cert.pem', validation_context: { trusted_ca: { filename: '/etc/certs/root-cert.pem' } } }), collectingContext(), read)).toEqual({
      name: 'file-root:/etc/certs/root-cert.pem',
      validationContext: { trustedCa: ca.certPem },
    });
    expect(() => decodeSecret(secret({ name: 'file-root:/x', validation_context: { trusted_ca: { filename: '/x' } } }), collectingContext(), read)).toThrow('Secret file-root:/x, field validation_context.trusted_ca.filename: cannot read /x: ENOENT');
    const other = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'ns', serviceAccount: 'other' });
    expect(() => decodeSecret(secret({ name: 'default', tls_certificate: { certificate_chain: { inline_string: cert.certChainPem }, private_key: { inline_string: other.keyPem } } }), collectingContext())).toThrow('the private key does not match the certificate');
    expect(() => decodeSecret(secret({ name: 'k', generic_secret: { secret: { inline_string: 'x' } } }), collectingContext())).toThrow('generic_secret secrets are not supported');
  });
});
