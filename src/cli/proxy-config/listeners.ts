import { ProxyConfigError, requireSection, resourcesOf, type ConfigDump } from './config-dump.js';
import { describeListenerMatch, describeListenerDestination, filterChainsOf, isBlackHoleTcpProxy, HTTP_CONNECTION_MANAGER, TCP_PROXY } from './filter-chains.js';
import { sortSlice } from './go-sort.js';
import { equalFold, goLess } from './go-strings.js';
import { at, field, numberOf, objectOf, objectsOf, stringOf, type JsonObject } from './json-values.js';
import { printMessages, type OutputFormat } from './print-messages.js';
import { TabWriter, type TabWriterSettings } from './tabwriter.js';

/** istioctl proxy-config listeners --address --port --type (HTTP, TCP, HTTP+TCP, UNKNOWN; any case) and --verbose (default true). */
export interface ListenerFilter {
  address?: string;
  port?: number;
  type?: string;
  verbose?: boolean;
}

export interface ListenerSummaryOptions {
  /** A NAME column `listener/<name>` first (what `proxy-config all` does). */
  includeConfigType?: boolean;
}

const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
/** The listener table's Init(w, 0, 8, 1, ' ', 0): one space between columns. */
const LISTENER_TABLE: TabWriterSettings = { minWidth: 0, tabWidth: 8, padding: 1, padChar: ' ' };

export function listenerMatches(filter: ListenerFilter, listener: JsonObject): boolean {
  if (filter.address && ![...additionalAddresses(listener), listenerAddress(listener)].some((a) => equalFold(a, filter.address!))) return false;
  if (filter.port && listenerPort(listener) !== filter.port) return false;
  if (filter.type && !equalFold(listenerType(listener), filter.type)) return false;
  return true;
}

/**
 * The table `istioctl proxy-config listeners` prints: listeners sorted by port, address and type;
 * verbose, one row per filter chain (sorted by destination, descending) with its match and destination.
 */
export function writeListenerSummary(dump: ConfigDump, filter: ListenerFilter = {}, options: ListenerSummaryOptions = {}): string {
  const verbose = filter.verbose ?? true;
  const listeners = dumpListeners(dump).filter((l) => listenerMatches(filter, l));
  sortSlice(listeners, (a, b) => {
    const [ap, bp] = [listenerPort(a), listenerPort(b)];
    if (ap !== bp) return ap < bp;
    const [aa, ba] = [listenerAddress(a), listenerAddress(b)];
    if (aa !== ba) return goLess(aa, ba);
    return goLess(listenerType(a), listenerType(b));
  });
  const w = new TabWriter(LISTENER_TABLE);
  w.write(`${options.includeConfigType ? 'NAME\t' : ''}ADDRESSES\tPORT${verbose ? '\tMATCH\tDESTINATION' : '\tTYPE'}\n`);
  for (const listener of listeners) {
    const addresses = [listenerAddress(listener), ...additionalAddresses(listener)].join(',');
    const lead = [...(options.includeConfigType ? [`listener/${stringOf(listener.name)}`] : []), addresses, String(listenerPort(listener))];
    if (!verbose) {
      w.write(`${[...lead, listenerType(listener)].join('\t')}\n`);
      continue;
    }
    const chains = filterChainsOf(listener).map((chain) => ({
      match: describeListenerMatch(field(chain, 'filter_chain_match')),
      destination: describeListenerDestination(objectsOf(chain.filters)),
    }));
    sortSlice(chains, (a, b) => goLess(b.destination, a.destination));
    for (const chain of chains) w.write(`${[...lead, chain.match, chain.destination].join('\t')}\n`);
  }
  return w.flush();
}

/** `istioctl proxy-config listeners -o json|yaml`: the matching listeners in the dump's order. */
export function writeListenerDump(dump: ConfigDump, filter: ListenerFilter, format: OutputFormat): string {
  return printMessages(LISTENER_TYPE, dumpListeners(dump).filter((l) => listenerMatches(filter, l)), format);
}

/** Active dynamic listeners, then static ones. */
function dumpListeners(dump: ConfigDump): JsonObject[] {
  let section: JsonObject;
  try {
    section = requireSection(dump, 'listeners');
  } catch (err) {
    throw new ProxyConfigError(`listener dump: ${(err as Error).message}`);
  }
  const listeners = [...resourcesOf(section, 'dynamic_listeners', 'active_state', 'listener'), ...resourcesOf(section, 'static_listeners', 'listener')];
  if (listeners.length === 0) throw new ProxyConfigError('no listeners found');
  return listeners;
}

/** HTTP, TCP, HTTP+TCP or UNKNOWN, by the connection managers and TCP proxies (not to the BlackHoleCluster) of its chains. */
export function listenerType(listener: JsonObject): string {
  let http = 0;
  let tcp = 0;
  for (const chain of filterChainsOf(listener)) {
    for (const filter of objectsOf(chain.filters)) {
      if (filter.name === HTTP_CONNECTION_MANAGER) http++;
      else if (filter.name === TCP_PROXY && !isBlackHoleTcpProxy(filter)) tcp++;
    }
  }
  if (http > 0) return tcp === 0 ? 'HTTP' : 'HTTP+TCP';
  return tcp > 0 ? 'TCP' : 'UNKNOWN';
}

/** The socket address's IP, or a pipe's path, or ''. */
function listenerAddress(listener: JsonObject): string {
  const address = field(listener, 'address');
  const socket = objectOf(field(address, 'socket_address'));
  if (socket) return stringOf(socket.address);
  const pipe = objectOf(field(address, 'pipe'));
  return pipe ? stringOf(pipe.path) : '';
}

function additionalAddresses(listener: JsonObject): string[] {
  return objectsOf(field(listener, 'additional_addresses')).map((a) => stringOf(at(a, 'address', 'socket_address', 'address')));
}

function listenerPort(listener: JsonObject): number {
  return numberOf(at(listener, 'address', 'socket_address', 'port_value'));
}
