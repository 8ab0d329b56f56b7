import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Secret } from '../../snapshot.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';

/**
 * envoy.extensions.transport_sockets.tls.v3.Secret (SDS: pilot-agent's `default` and `ROOTCA`,
 * `file-cert:`/`file-root:`; istiod's gateway credentials `kubernetes://<name>[-cacert]` over ADS)
 * → the Snapshot's Secret: a certificate chain and key, or CAs, as PEM. The PEM is checked here
 * (a certificate that does not parse, a key that does not fit it), so a bad secret is refused by
 * the control-plane exchange instead of failing handshakes later.
 */

/** envoy.config.core.v3.DataSource in the plain form. */
export interface DataSourceMessage {
  filename?: string;
  inline_bytes?: Uint8Array;
  inline_string?: string;
  environment_variable?: string;
  specifier?: string;
}

/** envoy.extensions.transport_sockets.tls.v3.Secret in the plain form. */
export interface SecretMessage {
  name?: string;
  type?: string;
  tls_certificate?: { certificate_chain?: DataSourceMessage; private_key?: DataSourceMessage };
  validation_context?: { trusted_ca?: DataSourceMessage };
}

const TLS_CERTIFICATE: FieldPolicy = {
  type: 'envoy.extensions.transport_sockets.tls.v3.TlsCertificate',
  reads: ['certificate_chain', 'private_key'],
  ignored: {
    watched_directory: 'the SDS server sends the secret again when it changes',
    ocsp_staple: 'no OCSP response is stapled',
    signed_certificate_timestamp: 'no SCT is sent',
  },
  refused: {
    password: 'encrypted private keys are not supported',
    pkcs12: 'PKCS#12 is not supported: send PEM',
    private_key_provider: 'private key providers are not supported',
  },
};

const VALIDATION_SECRET: FieldPolicy = {
  type: 'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext',
  reads: ['trusted_ca'],
  ignored: { watched_directory: 'the SDS server sends the secret again when it changes' },
  // anything else in a validation secret would merge into the contexts that name it: not supported there
  refused: {
    custom_validator_config: 'custom certificate validators (e.g. SPIFFE trust-domain bundles) are not supported',
    crl: 'certificate revocation lists are not enforced',
    verify_certificate_spki: 'certificate pinning (SPKI) is not enforced',
    verify_certificate_hash: 'certificate pinning (hash) is not enforced',
    match_subject_alt_names: 'SAN matchers in a validation secret are not supported',
    match_typed_subject_alt_names: 'SAN matchers in a validation secret are not supported',
    allow_expired_certificate: 'expired certificates are always refused',
    system_root_certs: 'system roots in a validation secret are not supported',
    max_verify_depth: 'a maximum chain depth is not enforced',
  },
};

/** A DataSource's text: inline bytes or string, or a file read now. */
function dataSourceText(d: DataSourceMessage | undefined, ref: ResourceRef, field: string, readFile: (path: string) => string): string {
  switch (d?.specifier) {
    case 'inline_string':
      return d.inline_string ?? '';
    case 'inline_bytes':
      return Buffer.from(d.inline_bytes ?? []).toString('utf8');
    case 'filename':
      try {
        return readFile(d.filename ?? '');
      } catch (e) {
        throw resourceError(ref, fieldPath(field, 'filename'), `cannot read ${d.filename}: ${(e as Error).message}`);
      }
    case 'environment_variable':
      throw resourceError(ref, fieldPath(field, 'environment_variable'), 'secrets from environment variables are not supported');
    default:
      throw resourceError(ref, field, 'the data source is empty');
  }
}

/** Each PEM certificate of a bundle, parsed; the bundle must hold at least one. */
function parseCertificates(pem: string, ref: ResourceRef, field: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw resourceError(ref, field, 'no PEM certificate');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw resourceError(ref, field, `certificate ${i + 1} does not parse: ${(e as Error).message}`);
    }
  });
}

/**
 * Decodes a Secret. `readFile` reads a DataSource filename (pilot-agent's `file-cert:` and
 * `file-root:` secrets name files it has read already, so this is rare; tests pass their own).
 */
export function decodeSecret(msg: SecretMessage, ctx: DecodeContext, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Secret {
  const name = msg.name ?? '';
  const ref: ResourceRef = { kind: 'Secret', name };
  if (!name) throw resourceError(ref, 'name', 'a secret needs a name');
  switch (msg.type) {
    case 'tls_certificate': {
      const c = msg.tls_certificate!;
      checkFields(c, TLS_CERTIFICATE, ref, 'tls_certificate', ctx);
      const certificateChain = dataSourceText(c.certificate_chain, ref, 'tls_certificate.certificate_chain', readFile);
      const privateKey = dataSourceText(c.private_key, ref, 'tls_certificate.private_key', readFile);
      const [leaf] = parseCertificates(certificateChain, ref, 'tls_certificate.certificate_chain');
      let key;
      try {
        key = createPrivateKey(privateKey);
      } catch (e) {
        throw resourceError(ref, 'tls_certificate.private_key', `the private key does not parse: ${(e as Error).message}`);
      }
      if (!leaf!.checkPrivateKey(key)) throw resourceError(ref, 'tls_certificate.private_key', 'the private key does not match the certificate');
      return { name, tlsCertificate: { certificateChain, privateKey } };
    }
    case 'validation_context': {
      const v = msg.validation_context!;
      checkFields(v, VALIDATION_SECRET, ref, 'validation_context', ctx);
      const trustedCa = dataSourceText(v.trusted_ca, ref, 'validation_context.trusted_ca', readFile);
      parseCertificates(trustedCa, ref, 'validation_context.trusted_ca');
      return { name, validationContext: { trustedCa } };
    }
    case undefined:
      throw resourceError(ref, '', 'a secret needs tls_certificate or validation_context');
    default:
      throw resourceError(ref, msg.type, `${msg.type} secrets are not supported (tls_certificate, validation_context)`);
  }
}
