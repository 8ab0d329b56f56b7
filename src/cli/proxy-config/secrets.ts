import { ProxyConfigError, requireSection, type ConfigDump } from './config-dump.js';
import { arrayOf, field } from './json-values.js';
import { printMessage, type OutputFormat } from './print-messages.js';
import { envoySecrets } from './secret-items.js';
import { TabWriter } from './tabwriter.js';

export interface SecretSummaryOptions {
  /** The time VALID CERT is judged at (istioctl: the time it runs). */
  now?: Date;
  /** Name the secrets `secret/<name>` (what `proxy-config all` does). */
  includeConfigType?: boolean;
}

const SECRETS_DUMP_TYPE = 'envoy.admin.v3.SecretsConfigDump';
const COLUMNS = ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'];

/**
 * The table `istioctl proxy-config secret` prints: one row per warming, then active, secret (one
 * per trust domain for a SPIFFE bundle), and a TRUST DOMAIN column when every row has one.
 */
export function writeSecretSummary(dump: ConfigDump, options: SecretSummaryOptions = {}): string {
  const section = requireSection(dump, 'secrets');
  if (arrayOf(field(section, 'dynamic_active_secrets')).length === 0 && arrayOf(field(section, 'dynamic_warming_secrets')).length === 0) {
    return 'No active or warming secrets found.\n';
  }
  const items = envoySecrets(section, options.now ?? new Date());
  if (items.length === 0) return 'No secret items to show.\n';
  const withTrustDomain = items.every((s) => s.trustDomain !== '');
  // Init(w, 0, 5, 5, ' ', 0)
  const w = new TabWriter({ minWidth: 0, tabWidth: 5, padding: 5, padChar: ' ' });
  w.write(`${[...COLUMNS, ...(withTrustDomain ? ['TRUST DOMAIN'] : [])].join('\t')}\n`);
  for (const s of items) {
    const cells = [options.includeConfigType ? `secret/${s.name}` : s.name, s.type, s.state, String(s.valid), s.serialNumber, s.notAfter, s.notBefore];
    if (withTrustDomain) cells.push(s.trustDomain);
    w.write(`${cells.join('\t')}\n`);
  }
  return w.flush();
}

/** `istioctl proxy-config secret -o json|yaml`: the whole SecretsConfigDump, as protomarshal writes it (4-space jsonpb). */
export function writeSecretDump(dump: ConfigDump, format: OutputFormat): string {
  let section;
  try {
    section = requireSection(dump, 'secrets');
  } catch (err) {
    throw new ProxyConfigError(`sidecar doesn't support secrets: ${(err as Error).message}`);
  }
  return printMessage(SECRETS_DUMP_TYPE, section, format);
}
