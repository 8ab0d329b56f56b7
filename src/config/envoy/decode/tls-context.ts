import { nodeTls } from '../../../common/node-builtins.js';
import type {
  CertificateValidationContext,
  CommonTlsContext,
  DownstreamTlsContext,
  DownstreamTransportSocket,
  SdsSecretConfig,
  SubjectAltNameMatcher,
  TlsParameters,
  TlsProtocolVersion,
  UpstreamTlsContext,
  UpstreamTransportSocket,
} from '../../snapshot.js';
import { unpackAny, type AnyMessage } from '../proto/any.js';
import { wrapped } from '../proto/values.js';
import { decodeConfigSource, type ConfigSourceMessage } from './config-source.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeStringMatcher, type StringMatcherMessage } from './matchers.js';

/**
 * envoy.extensions.transport_sockets.tls.v3 Downstream/UpstreamTlsContext → the Snapshot's TLS
 * contexts. Certificates and CAs come by SDS name only (istiod never inlines them); what decides
 * who is trusted and cannot be enforced (inline CAs, CRLs, pinned hashes, custom validators,
 * expired certificates allowed, ...) is refused; resumption and logging knobs are warned about.
 */

const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.';
const DOWNSTREAM_TYPE = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TYPE = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW_BUFFER_TYPE = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
/** The transport socket names Envoy registers for these (a socket without typed_config is found by name). */
const TLS_NAMES = new Set(['envoy.transport_sockets.tls', 'tls']);
const RAW_NAMES = new Set(['envoy.transport_sockets.raw_buffer', 'raw_buffer']);

/** envoy.config.core.v3.TransportSocket in the plain form. */
export interface TransportSocketMessage {
  name?: string;
  typed_config?: AnyMessage;
}

interface SdsSecretConfigMessage {
  name?: string;
  sds_config?: ConfigSourceMessage;
}

interface TlsParametersMessage {
  tls_minimum_protocol_version?: string;
  tls_maximum_protocol_version?: string;
  cipher_suites?: string[];
  ecdh_curves?: string[];
}

interface ValidationContextMessage {
  system_root_certs?: object;
  match_subject_alt_names?: StringMatcherMessage[];
  match_typed_subject_alt_names?: { san_type?: string; matcher?: StringMatcherMessage; oid?: string }[];
  trust_chain_verification?: string;
}

interface CommonTlsContextMessage {
  tls_params?: TlsParametersMessage;
  tls_certificate_sds_secret_configs?: SdsSecretConfigMessage[];
  validation_context?: ValidationContextMessage;
  validation_context_sds_secret_config?: SdsSecretConfigMessage;
  combined_validation_context?: { default_validation_context?: ValidationContextMessage; validation_context_sds_secret_config?: SdsSecretConfigMessage };
  alpn_protocols?: string[];
}

/** envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext in the plain form. */
export interface DownstreamTlsContextMessage {
  common_tls_context?: CommonTlsContextMessage;
  require_client_certificate?: { value?: boolean };
}

/** envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext in the plain form. */
export interface UpstreamTlsContextMessage {
  common_tls_context?: CommonTlsContextMessage;
  sni?: string;
}

const NO_PROVIDERS = 'certificate providers are not supported: name the certificate by SDS';
const BY_SDS = 'inline or file certificates in a TLS context are not supported: name them by SDS (istiod does)';

const COMMON: FieldPolicy = {
  type: 'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext',
  reads: ['tls_params', 'tls_certificate_sds_secret_configs', 'validation_context', 'validation_context_sds_secret_config', 'combined_validation_context', 'alpn_protocols'],
  ignored: { key_log: 'TLS keys are not logged' },
  refused: {
    tls_certificates: BY_SDS,
    tls_certificate_provider_instance: NO_PROVIDERS,
    tls_certificate_certificate_provider: NO_PROVIDERS,
    tls_certificate_certificate_provider_instance: NO_PROVIDERS,
    validation_context_certificate_provider: NO_PROVIDERS,
    validation_context_certificate_provider_instance: NO_PROVIDERS,
    custom_handshaker: 'custom handshakers are not supported',
  },
};

const COMBINED: FieldPolicy = {
  type: 'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext',
  reads: ['default_validation_context', 'validation_context_sds_secret_config'],
  refused: { validation_context_certificate_provider: NO_PROVIDERS, validation_context_certificate_provider_instance: NO_PROVIDERS },
};

const PARAMS: FieldPolicy = {
  type: 'envoy.extensions.transport_sockets.tls.v3.TlsParameters',
  reads: ['tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites', 'ecdh_curves'],
  refused: { signature_algorithms: 'signature algorithm restrictions are not enforced' },
};

const VALIDATION: FieldPolicy = {
  type: 'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext',
  reads: ['system_root_certs', 'match_subject_alt_names', 'match_typed_subject_alt_names', 'trust_chain_verification'],
  ignored: {
    watched_directory: 'the CA comes by SDS, whose files the SDS server watches',
    only_verify_leaf_cert_crl: 'no CRL is configured',
  },
  refused: {
    trusted_ca: 'an inline or file CA is not supported: name it by SDS (validation_context_sds_secret_config)',
    ca_certificate_provider_instance: NO_PROVIDERS,
    verify_certificate_spki: 'certificate pinning (SPKI) is not enforced',
    verify_certificate_hash: 'certificate pinning (hash) is not enforced',
    require_signed_certificate_timestamp: 'certificate transparency is not enforced',
    crl: 'certificate revocation lists are not enforced',
    allow_expired_certificate: 'expired certificates are always refused',
    custom_validator_config: 'custom certificate validators are not supported',
    max_verify_depth: 'a maximum chain depth is not enforced',
  },
};

const RESUMPTION = 'TLS session resumption is left to Node';
const DOWNSTREAM: FieldPolicy = {
  type: DOWNSTREAM_TYPE,
  reads: ['common_tls_context', 'require_client_certificate'],
  ignored: {
    session_ticket_keys: RESUMPTION,
    session_ticket_keys_sds_secret_config: RESUMPTION,
    disable_stateless_session_resumption: RESUMPTION,
    disable_stateful_session_resumption: RESUMPTION,
    session_timeout: RESUMPTION,
    ocsp_staple_policy: 'no OCSP response is stapled',
    full_scan_certs_on_sni_mismatch: 'one certificate per context',
  },
  refused: { require_sni: 'a handshake without SNI is not refused' },
};

const UPSTREAM: FieldPolicy = {
  type: UPSTREAM_TYPE,
  reads: ['common_tls_context', 'sni'],
  ignored: { allow_renegotiation: 'renegotiation is never allowed', max_session_keys: RESUMPTION, enforce_rsa_key_usage: 'RSA key usage is left to OpenSSL' },
};

const SAN_TYPES: Record<string, SubjectAltNameMatcher['sanType']> = { DNS: 'DNS', URI: 'URI', EMAIL: 'EMAIL', IP_ADDRESS: 'IP_ADDRESS' };
const VERSIONS = new Set<TlsProtocolVersion>(['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3']);
const VERSION_ORDER: Record<TlsProtocolVersion, number> = { TLS_AUTO: 0, TLSv1_0: 10, TLSv1_1: 11, TLSv1_2: 12, TLSv1_3: 13 };

/** The cipher suites OpenSSL knows by name (TLS 1.3 suites excluded: Envoy does not configure them). */
let knownCiphers: Set<string> | undefined;
const curveSupport = new Map<string, boolean>();

function curveSupported(name: string): boolean {
  let ok = curveSupport.get(name);
  if (ok === undefined) {
    try {
      nodeTls().createSecureContext({ ecdhCurve: name });
      ok = true;
    } catch {
      ok = false;
    }
    curveSupport.set(name, ok);
  }
  return ok;
}

/**
 * Envoy's cipher_suites: OpenSSL names, `[A|B]` an equal-preference group (BoringSSL's; OpenSSL has
 * none, so the group's members keep their order). An unknown name is an error, as in Envoy.
 */
function decodeCipherSuites(list: string[], ref: ResourceRef, field: string): string[] {
  knownCiphers ??= new Set(nodeTls().getCiphers().filter((c) => !c.startsWith('tls_')));
  const out: string[] = [];
  list.forEach((entry, i) => {
    const names = /^\[.*\]$/.test(entry) ? entry.slice(1, -1).split('|') : [entry];
    for (const name of names) {
      if (!knownCiphers!.has(name.toLowerCase())) throw resourceError(ref, fieldPath(field, i), `unknown cipher suite ${name}`);
      out.push(name);
    }
  });
  return out;
}

function decodeTlsParams(p: TlsParametersMessage, ref: ResourceRef, field: string, ctx: DecodeContext): TlsParameters {
  checkFields(p, PARAMS, ref, field, ctx);
  const version = (key: 'tls_minimum_protocol_version' | 'tls_maximum_protocol_version'): TlsProtocolVersion | undefined => {
    const v = p[key];
    if (v === undefined || v === 'TLS_AUTO') return undefined;
    if (!VERSIONS.has(v as TlsProtocolVersion)) throw resourceError(ref, fieldPath(field, key), `unknown TLS version ${v}`);
    return v as TlsProtocolVersion;
  };
  const min = version('tls_minimum_protocol_version');
  const max = version('tls_maximum_protocol_version');
  if (max && VERSION_ORDER[max] < 12) throw resourceError(ref, fieldPath(field, 'tls_maximum_protocol_version'), 'Outrigger speaks TLS 1.2 and 1.3 only');
  if (min && max && VERSION_ORDER[min] > VERSION_ORDER[max]) throw resourceError(ref, field, 'tls_minimum_protocol_version is above tls_maximum_protocol_version');
  if (min && VERSION_ORDER[min] < 12) ctx.warn(`${ref.kind} ${ref.name}: ${fieldPath(field, 'tls_minimum_protocol_version')} ${min} is raised to TLSv1_2 (Outrigger's floor)`);
  const curves = p.ecdh_curves ?? [];
  curves.forEach((c, i) => {
    if (!curveSupported(c)) throw resourceError(ref, fieldPath(fieldPath(field, 'ecdh_curves'), i), `unknown ECDH curve ${c}`);
  });
  return {
    ...(min ? { tlsMinimumProtocolVersion: min } : {}),
    ...(max ? { tlsMaximumProtocolVersion: max } : {}),
    ...(p.cipher_suites?.length ? { cipherSuites: decodeCipherSuites(p.cipher_suites, ref, fieldPath(field, 'cipher_suites')) } : {}),
    ...(curves.length ? { ecdhCurves: [...curves] } : {}),
  };
}

function decodeSdsSecretConfig(m: SdsSecretConfigMessage, ref: ResourceRef, field: string, ctx: DecodeContext): SdsSecretConfig {
  if (!m.name) throw resourceError(ref, fieldPath(field, 'name'), 'an SDS secret needs a name');
  // no sds_config: a static secret of the bootstrap (Envoy's static_resources.secrets)
  return { name: m.name, ...(m.sds_config ? { sdsConfig: decodeConfigSource(m.sds_config, ref, fieldPath(field, 'sds_config'), ctx) } : {}) };
}

/**
 * A CertificateValidationContext without its CA (that comes by SDS, or is the system's). `hasCa`:
 * whether a CA verifies the chain; SAN matching without one is refused, as Envoy refuses it.
 */
function decodeValidation(v: ValidationContextMessage, hasCa: boolean, ref: ResourceRef, field: string, ctx: DecodeContext): CertificateValidationContext {
  checkFields(v, VALIDATION, ref, field, ctx);
  if (v.trust_chain_verification === 'ACCEPT_UNTRUSTED') ctx.warn(`${ref.kind} ${ref.name}: ${fieldPath(field, 'trust_chain_verification')} ACCEPT_UNTRUSTED is not applied: the chain is verified`);
  const untyped = (v.match_subject_alt_names ?? []).map((m, i) => decodeStringMatcher(m, ref, fieldPath(fieldPath(field, 'match_subject_alt_names'), i)));
  const typed = (v.match_typed_subject_alt_names ?? []).map((m, i): SubjectAltNameMatcher => {
    const at = fieldPath(fieldPath(field, 'match_typed_subject_alt_names'), i);
    const sanType = SAN_TYPES[m.san_type ?? ''];
    if (!sanType) throw resourceError(ref, fieldPath(at, 'san_type'), `SAN type ${m.san_type ?? 'SAN_TYPE_UNSPECIFIED'} is not supported (DNS, URI, EMAIL, IP_ADDRESS)`);
    if (!m.matcher) throw resourceError(ref, fieldPath(at, 'matcher'), 'a SAN matcher needs a matcher');
    return { sanType, matcher: decodeStringMatcher(m.matcher, ref, fieldPath(at, 'matcher')) };
  });
  const systemRoots = v.system_root_certs !== undefined;
  if ((untyped.length || typed.length) && !hasCa && !systemRoots) throw resourceError(ref, field, 'SAN matching without a trusted CA is insecure (Envoy refuses it)');
  return {
    ...(untyped.length ? { matchSubjectAltNames: untyped } : {}),
    ...(typed.length ? { matchTypedSubjectAltNames: typed } : {}),
    ...(systemRoots ? { systemRootCerts: {} } : {}),
  };
}

function decodeCommon(c: CommonTlsContextMessage, ref: ResourceRef, field: string, ctx: DecodeContext): CommonTlsContext {
  checkFields(c, COMMON, ref, field, ctx);
  const out: CommonTlsContext = {};
  if (c.tls_params) {
    const params = decodeTlsParams(c.tls_params, ref, fieldPath(field, 'tls_params'), ctx);
    if (Object.keys(params).length) out.tlsParams = params;
  }
  if (c.alpn_protocols?.length) out.alpnProtocols = [...c.alpn_protocols];
  const certs = c.tls_certificate_sds_secret_configs ?? [];
  if (certs.length > 1) ctx.warn(`${ref.kind} ${ref.name}: ${fieldPath(field, 'tls_certificate_sds_secret_configs')}: only the first certificate is presented`);
  if (certs.length) out.tlsCertificateSdsSecretConfigs = [decodeSdsSecretConfig(certs[0]!, ref, fieldPath(fieldPath(field, 'tls_certificate_sds_secret_configs'), 0), ctx)];
  if (c.combined_validation_context) {
    const at = fieldPath(field, 'combined_validation_context');
    const combined = c.combined_validation_context;
    checkFields(combined, COMBINED, ref, at, ctx);
    if (!combined.validation_context_sds_secret_config) throw resourceError(ref, fieldPath(at, 'validation_context_sds_secret_config'), 'a combined validation context needs its SDS secret');
    out.combinedValidationContext = {
      defaultValidationContext: decodeValidation(combined.default_validation_context ?? {}, true, ref, fieldPath(at, 'default_validation_context'), ctx),
      validationContextSdsSecretConfig: decodeSdsSecretConfig(combined.validation_context_sds_secret_config, ref, fieldPath(at, 'validation_context_sds_secret_config'), ctx),
    };
  } else if (c.validation_context_sds_secret_config) {
    // the CA by SDS alone: the same as a combined context with an empty default
    out.combinedValidationContext = {
      defaultValidationContext: {},
      validationContextSdsSecretConfig: decodeSdsSecretConfig(c.validation_context_sds_secret_config, ref, fieldPath(field, 'validation_context_sds_secret_config'), ctx),
    };
  } else if (c.validation_context) {
    const v = decodeValidation(c.validation_context, false, ref, fieldPath(field, 'validation_context'), ctx);
    // without a CA (none inline: refused above) or the system's, Envoy verifies nothing
    if (v.systemRootCerts) out.validationContext = v;
  }
  return out;
}

/** Whether a context verifies the peer's certificate (a CA by SDS, or the system roots). */
function verifiesPeer(c: CommonTlsContext): boolean {
  return !!c.combinedValidationContext || !!c.validationContext;
}

/** A DownstreamTlsContext (TLS terminated by a listener's filter chain). */
export function decodeDownstreamTlsContext(msg: DownstreamTlsContextMessage, ref: ResourceRef, field: string, ctx: DecodeContext): DownstreamTlsContext {
  checkFields(msg, DOWNSTREAM, ref, field, ctx);
  const common = decodeCommon(msg.common_tls_context ?? {}, ref, fieldPath(field, 'common_tls_context'), ctx);
  if (!common.tlsCertificateSdsSecretConfigs) throw resourceError(ref, fieldPath(field, 'common_tls_context'), 'a server TLS context needs a certificate (tls_certificate_sds_secret_configs)');
  const require = wrapped(msg.require_client_certificate, false);
  if (require && !verifiesPeer(common)) throw resourceError(ref, fieldPath(field, 'require_client_certificate'), 'a client certificate is required but nothing validates it (no validation context)');
  return { commonTlsContext: common, ...(require ? { requireClientCertificate: true } : {}) };
}

/**
 * An UpstreamTlsContext (TLS originated to a cluster's endpoints). Envoy's client default maximum
 * is TLS 1.2 (istiod always says TLSv1_3): written out, so the data plane need not know which side
 * a context is for.
 */
export function decodeUpstreamTlsContext(msg: UpstreamTlsContextMessage, ref: ResourceRef, field: string, ctx: DecodeContext): UpstreamTlsContext {
  checkFields(msg, UPSTREAM, ref, field, ctx);
  const common = decodeCommon(msg.common_tls_context ?? {}, ref, fieldPath(field, 'common_tls_context'), ctx);
  if (!common.tlsParams?.tlsMaximumProtocolVersion) {
    if (common.tlsParams?.tlsMinimumProtocolVersion === 'TLSv1_3') throw resourceError(ref, fieldPath(field, 'common_tls_context.tls_params'), 'a TLS 1.3 minimum needs a TLS 1.3 maximum (a client\'s default maximum is TLS 1.2)');
    common.tlsParams = { ...common.tlsParams, tlsMaximumProtocolVersion: 'TLSv1_2' };
  }
  return { commonTlsContext: common, ...(msg.sni ? { sni: msg.sni } : {}) };
}

/** What a TransportSocket is: TLS with this payload type, or plaintext. Anything else is refused. */
function transportSocketKind(msg: TransportSocketMessage, tlsType: string, ref: ResourceRef, field: string): { tls: Record<string, unknown> } | 'raw' {
  const any = msg.typed_config;
  if (!any) {
    // Envoy finds the factory by name when there is no typed config: TLS with an empty context
    if (TLS_NAMES.has(msg.name ?? '')) return { tls: {} };
    if (RAW_NAMES.has(msg.name ?? '')) return 'raw';
    throw resourceError(ref, fieldPath(field, 'name'), `transport socket ${msg.name ?? '(unnamed)'} is not supported (tls, raw_buffer)`);
  }
  let unpacked;
  try {
    unpacked = unpackAny(any);
  } catch (e) {
    throw resourceError(ref, fieldPath(field, 'typed_config'), `does not decode: ${(e as Error).message}`);
  }
  if (unpacked.typeName === RAW_BUFFER_TYPE) return 'raw';
  if (unpacked.typeName === tlsType && unpacked.known) return { tls: unpacked.message };
  throw resourceError(ref, fieldPath(field, 'typed_config'), `transport socket ${msg.name ?? ''} (${any.type_url}) is not supported${any.type_url.startsWith(TLS) ? ' here' : ''} (${tlsType.split('.').pop()}, RawBuffer)`);
}

/** A listener filter chain's transport_socket: TLS terminated, or undefined for plaintext (raw_buffer). */
export function decodeDownstreamTransportSocket(msg: TransportSocketMessage, ref: ResourceRef, field: string, ctx: DecodeContext): DownstreamTransportSocket | undefined {
  const kind = transportSocketKind(msg, DOWNSTREAM_TYPE, ref, field);
  if (kind === 'raw') return undefined;
  return { name: 'envoy.transport_sockets.tls', typedConfig: decodeDownstreamTlsContext(kind.tls, ref, fieldPath(field, 'typed_config'), ctx) };
}

/** A cluster's transport_socket (or a transport socket match's): TLS to the upstream, or plaintext. */
export function decodeUpstreamTransportSocket(msg: TransportSocketMessage, ref: ResourceRef, field: string, ctx: DecodeContext): UpstreamTransportSocket {
  const kind = transportSocketKind(msg, UPSTREAM_TYPE, ref, field);
  if (kind === 'raw') return { name: 'envoy.transport_sockets.raw_buffer' };
  return { name: 'envoy.transport_sockets.tls', typedConfig: decodeUpstreamTlsContext(kind.tls, ref, fieldPath(field, 'typed_config'), ctx) };
}
