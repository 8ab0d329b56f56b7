// Golden conformance for ./init-iptables: for every istio-iptables capture
// case in the shared conformance set, run the script with --dry-run and
// compare its iptables-restore output with the golden file.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = resolve(repoRoot, 'init-iptables');
const conformanceDir = resolve(repoRoot, '..', 'shared', 'conformance', 'istio', 'iptables');
const indexPath = resolve(conformanceDir, 'index.json');

interface Case {
  golden: string;
  effective_config: Record<string, string | boolean | string[]>;
}

// Cases that do not match yet, with the reason. They run as it.skip.
const SKIPPED: ReadonlyArray<{ name: string; reason: string }> = [];

// Env vars the script reads; cleared so the host environment cannot leak in.
const SCRIPT_ENV = [
  'INBOUND_CAPTURE_PORT', 'INBOUND_TUNNEL_PORT', 'PROXY_UID', 'PROXY_GID',
  'ISTIO_INBOUND_INTERCEPTION_MODE', 'ISTIO_INBOUND_TPROXY_MARK', 'ISTIO_INBOUND_TPROXY_ROUTE_TABLE',
  'ISTIO_INBOUND_PORTS', 'ISTIO_LOCAL_EXCLUDE_PORTS', 'ISTIO_SERVICE_CIDR', 'ISTIO_SERVICE_EXCLUDE_CIDR',
  'ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE', 'ISTIO_OUTBOUND_PORTS', 'KUBE_VIRT_INTERFACES',
  'ISTIO_EXCLUDE_INTERFACES', 'REDIRECT_DNS', 'ISTIO_META_DNS_CAPTURE', 'CAPTURE_ALL_DNS',
  'DROP_INVALID', 'INVALID_DROP', 'ENABLE_IPV6', 'ISTIO_ENABLE_IPV6', 'ISTIO_OUTBOUND_OWNER_GROUPS',
  'ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE', 'ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR', 'DRY_RUN',
];

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of SCRIPT_ENV) delete env[k];
  return env;
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/** Map a case's effective_config onto init-iptables flags. */
function toArgs(cfg: Case['effective_config']): string[] {
  const args = ['--dry-run'];
  const flag = (name: string, field: string) => {
    const v = str(cfg[field]);
    if (v !== '') args.push(name, v);
  };
  flag('-p', 'ProxyPort');
  flag('-z', 'InboundCapturePort');
  flag('-e', 'InboundTunnelPort');
  flag('-u', 'ProxyUID');
  flag('-g', 'ProxyGID');
  flag('-t', 'InboundTProxyMark');
  flag('-r', 'InboundTProxyRouteTable');
  flag('-m', 'InboundInterceptionMode');
  flag('-b', 'InboundPortsInclude');
  flag('-d', 'InboundPortsExclude');
  flag('-i', 'OutboundIPRangesInclude');
  flag('-x', 'OutboundIPRangesExclude');
  flag('-o', 'OutboundPortsExclude');
  flag('-q', 'OutboundPortsInclude');
  flag('-k', 'RerouteVirtualInterfaces');
  flag('-c', 'ExcludeInterfaces');
  flag('--owner-groups-include', 'OwnerGroupsInclude');
  flag('--owner-groups-exclude', 'OwnerGroupsExclude');
  flag('--host-ipv4-loopback-cidr', 'HostIPv4LoopbackCidr');
  if (cfg.RedirectDNS === true) {
    args.push('--redirect-dns');
    // The unit-test config sets the servers directly (no /etc/resolv.conf).
    const join = (v: unknown) => (Array.isArray(v) ? v.join(',') : '');
    args.push(`--dns-servers-v4=${join(cfg.DNSServersV4)}`);
    args.push(`--dns-servers-v6=${join(cfg.DNSServersV6)}`);
  }
  if (cfg.CaptureAllDNS === true) args.push('--capture-all-dns');
  if (cfg.DropInvalid === true) args.push('--drop-invalid');
  if (cfg.EnableIPv6 === true) args.push('--ipv6');
  // istio-iptables' capture package does not add the always-excluded
  // 15090,15021,15020 (the injector passes them via -d); our script does by
  // default, so turn that off to compare with the package's goldens.
  args.push('--no-default-exclude-ports');
  return args;
}

/**
 * golden_format: the golden lists every command executed. Bare
 * 'iptables-save' / 'ip6tables-save' lines are state snapshots, not rules;
 * the '* table' .. 'COMMIT' blocks are the iptables-restore input (IPv4
 * block(s) first, then IPv6). Compare the restore blocks line by line.
 */
function normalize(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && l !== 'iptables-save' && l !== 'ip6tables-save');
}

function run(args: string[]) {
  return spawnSync('bash', [script, ...args], { cwd: repoRoot, env: cleanEnv(), encoding: 'utf8' });
}

const haveConformance = existsSync(indexPath);
const cases: Array<[string, Case]> = haveConformance
  ? Object.entries((JSON.parse(readFileSync(indexPath, 'utf8')) as { cases: Record<string, Case> }).cases)
  : [];

describe('init-iptables CLI', () => {
  it('--help exits 0 and documents the flags', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const f of ['--dry-run', '--cleanup', '--redirect-dns', '--drop-invalid', '--ipv6', '-m', '-b', '-d']) {
      expect(r.stdout).toContain(f);
    }
  });

  it('an unknown flag exits non-zero', () => {
    const r = run(['--dry-run', '--no-such-flag']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('unknown flag');
  });

  it('an invalid interception mode exits non-zero', () => {
    expect(run(['--dry-run', '-m', 'BOGUS']).status).not.toBe(0);
  });

  it('always excludes 15090,15021,15020 from wildcard inbound capture by default', () => {
    const r = run(['--dry-run', '-b', '*', '-d', '8080']);
    expect(r.status).toBe(0);
    for (const p of ['15090', '15021', '15020', '8080']) {
      expect(r.stdout).toContain(`-A ISTIO_INBOUND -p tcp --dport ${p} -j RETURN`);
    }
  });

  it('dry-run output is deterministic', () => {
    const a = run(['--dry-run', '-b', '*', '-i', '*', '--ipv6']);
    const b = run(['--dry-run', '-b', '*', '-i', '*', '--ipv6']);
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });
});

describe.skipIf(!haveConformance)('init-iptables --dry-run matches istio-iptables goldens', () => {
  for (const [name, c] of cases) {
    const skip = SKIPPED.find((s) => s.name === name);
    const t = skip ? it.skip : it;
    t(name, () => {
      const golden = readFileSync(resolve(conformanceDir, c.golden), 'utf8');
      const r = run(toArgs(c.effective_config));
      expect(r.stderr.replace(/^#.*\n?/gm, '')).toBe('');
      expect(r.status).toBe(0);
      expect(normalize(r.stdout)).toEqual(normalize(golden));
    });
  }
});
