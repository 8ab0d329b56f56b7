import { ConfigErrors } from './errors.js';
import { IstioConfigParser } from './istio/parse.js';
import { mergeProxyConfig, parseProxyConfigText } from './istio/proxy-config.js';
import { translateIstio, type TranslateOptions, type Translation } from './istio/translate.js';
import type { NodeIdentity } from './snapshot.js';
import { forEachConfigFile } from './source.js';
import { workloadSecrets, type CredentialSource, type WorkloadSecretSource } from './secrets.js';
import { resolveCredentials } from './istio/resolve-credentials.js';

export interface LoadOptions extends TranslateOptions {
  paths: readonly string[];
  node: NodeIdentity;
  /** Istio's file-mounted workload certificate (cert-chain.pem, key.pem, root-cert.pem), watched by the agent. */
  certDir?: string;
  /** Reads the workload certificate (the caller's: security/workload-certs.ts for certDir). */
  workloadSecret?: WorkloadSecretSource;
  /** This proxy's ProxyConfig (YAML/JSON, as PROXY_CONFIG holds it) and where it came from. */
  proxyConfig?: { text: string; source: string };
  /** --credential-dir: credentials named by credentialName; kept across loads (a broken rotation keeps the last good copy). */
  credentials?: CredentialSource;
}

/**
 * Files → validated Istio config → Snapshot. Throws ConfigError/ConfigErrors naming file,
 * document, resource and field; nothing partial is ever returned.
 */
export async function loadSnapshot(opts: LoadOptions): Promise<Translation> {
  const parser = new IstioConfigParser({ defaultNamespace: opts.node.namespace });
  await forEachConfigFile(opts.paths, (docs) => docs.forEach((doc) => parser.add(doc)));
  const cfg = parser.finish();
  if (opts.proxyConfig) {
    // istio-agent: this proxy's ProxyConfig over the mesh's defaultConfig, field by field
    const own = parseProxyConfigText(opts.proxyConfig.text, opts.proxyConfig.source, cfg.warnings);
    cfg.mesh = { ...cfg.mesh, defaultConfig: mergeProxyConfig(cfg.mesh.defaultConfig, own) };
  }
  await opts.credentials?.checkDir();
  await resolveCredentials(cfg, opts.node, opts.credentials);
  const workloadCert = opts.workloadSecret ? await opts.workloadSecret() : undefined;
  // the certificate is part of the Snapshot, as Envoy's SDS secrets: a rotated one is a new version
  return translateIstio(cfg, opts.node, { ...opts, mtls: !!workloadCert, secrets: workloadCert ? workloadSecrets(workloadCert) : [] });
}

/** Every error message of a load failure, one per line. */
export function describeLoadError(err: unknown): string[] {
  if (err instanceof ConfigErrors) return err.errors.map((e) => e.message);
  return [(err as Error).message ?? String(err)];
}
