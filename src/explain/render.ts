/** An Explanation as text for a terminal: one section per step, the outcome last. */
import type { ClusterExplanation } from './cluster.js';
import type { Explanation } from './explain.js';

const INDENT = '              ';

export function renderExplanation(e: Explanation): string {
  const out: string[] = [];
  const line = (label: string, text: string) => out.push(`${label.padEnd(INDENT.length)}${text}`);
  const more = (text: string) => out.push(`${INDENT}${text}`);
  const r = e.request;
  line('Request', `${r.method} ${r.scheme}://${r.authority}${r.path}`);
  more(`${r.direction}, ${r.protocol}, from ${r.sourceIp}${r.sourcePrincipal ? ` as ${r.sourcePrincipal}` : ''}${r.headers.length ? `, headers ${r.headers.map(([k, v]) => `${k}: ${v}`).join('; ')}` : ''}`);
  line('Config', `version ${e.configVersion}`);
  out.push('');
  const c = e.connection;
  line('Listener', `${c.listener}${c.acceptedBy ? ` (handed off by ${c.acceptedBy}, use_original_dst)` : ''}`);
  more(`destination ${c.destination.address}:${c.destination.port} (${c.destination.source})`);
  if (c.inspected) more(`inspected: ${c.inspected}`);
  if (c.chain !== undefined) {
    line('Filter chain', `${c.chain || '(unnamed)'}: ${c.chainMatch}; ${c.tls ? 'TLS' : 'plaintext'}`);
  }
  for (const n of c.notes) more(n);
  for (const f of e.networkFilters) {
    line('Network', f.name);
    for (const n of f.notes) more(n);
  }
  const h = e.http;
  if (h) {
    line('HTTP', `connection manager ${h.connectionManager}, route config ${h.routeConfig}`);
    more(`:authority ${h.authority}, :path ${h.path}`);
    if (h.virtualHost) line('Virtual host', `${h.virtualHost.name} (domains ${abbreviate(h.virtualHost.domains)})`);
    else if (h.filters.length || h.router) line('Virtual host', `none matches ${h.authority}`);
    if (h.route) {
      line('Route', `#${h.route.index} "${h.route.name}"${h.route.source ? ` from VirtualService ${h.route.source}` : ''}`);
      more(`match: ${h.route.match}`);
    } else if (h.virtualHost) line('Route', 'none matches');
    for (const f of h.filters) {
      line('Filter', f.name);
      for (const n of f.notes) more(n);
    }
    if (h.router) {
      line('Router', h.router.action);
      for (const n of h.router.notes) more(n);
      for (const cl of h.router.clusters) renderCluster(cl, line, more);
    }
  }
  if (e.tcp) {
    line('TCP proxy', e.tcp.statPrefix);
    for (const cl of e.tcp.clusters) renderCluster(cl, line, more);
  }
  out.push('');
  const [first, ...rest] = e.outcomes;
  line('Outcome', describeOutcome(first));
  for (const o of rest) more(describeOutcome(o));
  return `${out.join('\n')}\n`;
}

function describeOutcome(o: Explanation['outcomes'][number] | undefined): string {
  if (!o) return 'unknown';
  const share = o.share >= 100 ? '' : `${o.share}%: `;
  const status = o.status !== undefined ? ` [${o.status}${o.flag ? ` ${o.flag}` : ''}${o.details ? ` ${o.details}` : ''}]` : '';
  return `${share}${o.summary}${status}`;
}

function renderCluster(cl: ClusterExplanation, line: (l: string, t: string) => void, more: (t: string) => void): void {
  line('Cluster', `${cl.name}${cl.weight !== 100 ? ` (weight ${cl.weight})` : ''}${cl.exists ? `: ${cl.type}, ${cl.lbPolicy}` : ''}`);
  for (const n of cl.notes) more(n);
  for (const ep of cl.endpoints) {
    const where = [ep.locality && `locality ${ep.locality}`, ep.priority ? `priority ${ep.priority}` : '', ep.weight !== 1 ? `weight ${ep.weight}` : ''].filter(Boolean).join(', ');
    const mark = ep.address === cl.picked ? '  <- picked' : '';
    more(`  ${ep.address}  ${ep.health}${where ? ` (${where})` : ''}  ${ep.eligible ? 'eligible' : `excluded: ${ep.reason}`}${ep.eligible && ep.reason ? ` (${ep.reason})` : ''}${mark}`);
  }
  if (cl.picked && !cl.endpoints.some((ep) => ep.address === cl.picked)) more(`  picked ${cl.picked}`);
}

function abbreviate(list: readonly string[]): string {
  return list.length > 6 ? `${list.slice(0, 6).join(', ')}, … ${list.length - 6} more` : list.join(', ');
}
