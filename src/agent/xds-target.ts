import type { GrpcTarget } from '../config/envoy/bootstrap.js';
import type { DataSourceMessage } from '../config/envoy/decode/secret.js';
import { ConfigError } from '../config/errors.js';
import type { PemSource, XdsTarget, XdsTls } from '../xds/channel.js';

type DataSource = DataSourceMessage;

interface UpstreamTlsContextMessage {
  sni?: string;
  common_tls_context?: {
    tls_certificates?: { certificate_chain?: DataSource; private_key?: DataSource }[];
    tls_certificate_sds_secret_configs?: unknown[];
    validation_context?: { trusted_ca?: DataSource };
    combined_validation_context?: { default_validation_context?: { trusted_ca?: DataSource } };
    validation_context_sds_secret_config?: unknown;
  };
}

function pem(d: DataSource | undefined, cluster: string, field: string): PemSource | undefined {
  if (!d) return undefined;
  if (d.filename) return { file: d.filename };
  if (d.inline_string !== undefined) return { pem: d.inline_string };
  if (d.inline_bytes !== undefined) return { pem: Buffer.from(d.inline_bytes) };
  throw new ConfigError('a data source needs filename, inline_string or inline_bytes', { kind: 'Cluster', name: cluster, field });
}

/**
 * Where the xDS client connects, from a bootstrap cluster: its pipe, or its address with the TLS its
 * UpstreamTlsContext describes (certificates and CA from files or inline, as a bootstrap without
 * pilot-agent gives them; SNI). Certificates over SDS cannot secure the channel SDS itself would
 * need: a ConfigError.
 */
export function xdsTarget(t: GrpcTarget): XdsTarget {
  if (t.kind === 'pipe') return { kind: 'unix', path: t.path };
  if (!t.tls) return { kind: 'tcp', host: t.host, port: t.port };
  const tls = t.tls as UpstreamTlsContextMessage;
  const common = tls.common_tls_context ?? {};
  const field = 'transport_socket.typed_config.common_tls_context';
  if (common.tls_certificate_sds_secret_configs?.length || common.validation_context_sds_secret_config) {
    throw new ConfigError('the control plane channel cannot take its certificates over SDS: give them as files or inline', { kind: 'Cluster', name: t.clusterName, field });
  }
  const cert = common.tls_certificates?.[0];
  const trusted = common.validation_context?.trusted_ca ?? common.combined_validation_context?.default_validation_context?.trusted_ca;
  const out: XdsTls = {};
  const ca = pem(trusted, t.clusterName, `${field}.validation_context.trusted_ca`);
  const certChain = pem(cert?.certificate_chain, t.clusterName, `${field}.tls_certificates[0].certificate_chain`);
  const key = pem(cert?.private_key, t.clusterName, `${field}.tls_certificates[0].private_key`);
  if (ca) out.ca = ca;
  if (certChain) out.cert = certChain;
  if (key) out.key = key;
  if (tls.sni) out.serverName = tls.sni;
  return { kind: 'tcp', host: t.host, port: t.port, tls: out };
}
