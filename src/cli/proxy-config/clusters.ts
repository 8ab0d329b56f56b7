import { ProxyConfigError, requireSection, resourcesOf, type ConfigDump } from './config-dump.js';
import { describeManagement } from './describe.js';
import { sortSlice } from './go-sort.js';
import { stringOf, type JsonObject } from './json-values.js';
import { printMessages, type OutputFormat } from './print-messages.js';
import { safelyParseSubsetKey, subsetKeyLess } from './subset-key.js';
import { TABLE, TabWriter } from './tabwriter.js';

/** istioctl proxy-config clusters --fqdn --port --subset --direction: substrings of the cluster name. */
export interface ClusterFilter {
  fqdn?: string;
  port?: number;
  subset?: string;
  direction?: string;
}

export interface ClusterSummaryOptions {
  /** Prefix each row with a NAME column `cluster/<name>` (what `proxy-config all` does). */
  includeConfigType?: boolean;
}

const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';
const DISCOVERY_TYPES = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'];

export function clusterMatches(filter: ClusterFilter, cluster: JsonObject): boolean {
  const name = stringOf(cluster.name);
  if (filter.fqdn && !name.includes(filter.fqdn)) return false;
  if (filter.direction && !name.includes(filter.direction)) return false;
  if (filter.subset && !name.includes(filter.subset)) return false;
  if (filter.port && !name.includes(`|${filter.port}|`)) return false;
  return true;
}

/** The table `istioctl proxy-config clusters` prints. */
export function writeClusterSummary(dump: ConfigDump, filter: ClusterFilter = {}, options: ClusterSummaryOptions = {}): string {
  const clusters = sortedClusters(dump);
  const w = new TabWriter(TABLE);
  w.write(`${options.includeConfigType ? 'NAME\t' : ''}SERVICE FQDN\tPORT\tSUBSET\tDIRECTION\tTYPE\tDESTINATION RULE\n`);
  for (const cluster of clusters) {
    if (!clusterMatches(filter, cluster)) continue;
    const name = stringOf(cluster.name);
    const type = discoveryType(cluster.type);
    const rule = describeManagement(cluster.metadata);
    let cells: string[];
    if (name.split('|').length > 3) {
      const key = safelyParseSubsetKey(name);
      cells = [key.hostname, String(key.port), key.subset || '-', key.direction, type, rule];
      if (options.includeConfigType) cells.unshift(`cluster/${name}`);
    } else if (options.includeConfigType && name !== '') {
      cells = [`cluster/${name}`, `cluster/${name}`, '-', '-', '-', type, rule];
    } else {
      // an unnamed cluster gets no NAME cell even when the column is there (istioctl's own quirk)
      cells = [name, '-', '-', '-', type, rule];
    }
    w.write(`${cells.join('\t')}\n`);
  }
  return w.flush();
}

/** `istioctl proxy-config clusters -o json|yaml`: the matching clusters, sorted as in the table. */
export function writeClusterDump(dump: ConfigDump, filter: ClusterFilter, format: OutputFormat): string {
  const clusters = sortedClusters(dump).filter((c) => clusterMatches(filter, c));
  return printMessages(CLUSTER_TYPE, clusters, format);
}

/** Active dynamic clusters, then static ones, sorted by hostname, subset, port, direction. */
function sortedClusters(dump: ConfigDump): JsonObject[] {
  const section = requireSection(dump, 'clusters');
  const clusters = [...resourcesOf(section, 'dynamic_active_clusters', 'cluster'), ...resourcesOf(section, 'static_clusters', 'cluster')];
  if (clusters.length === 0) throw new ProxyConfigError('no clusters found');
  const keys = new Map(clusters.map((c) => [c, safelyParseSubsetKey(stringOf(c.name))]));
  sortSlice(clusters, (a, b) => subsetKeyLess(keys.get(a)!, keys.get(b)!));
  return clusters;
}

function discoveryType(value: unknown): string {
  if (value === undefined || value === null) return 'STATIC';
  if (typeof value === 'number') return DISCOVERY_TYPES[value] ?? String(value);
  return String(value);
}
