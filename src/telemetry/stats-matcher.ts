import { plainEqual } from '../common/plain-equal.js';
import { literalPrefix } from '../common/regex.js';
import type { StatsMatcherConfig, StringMatch } from '../config/snapshot.js';
import { compileStringMatch } from '../router/match.js';

/** What a matcher says of every stat under one prefix: all exist, none does, or a test of the rest of the name. */
export type ScopeDecision = boolean | ((stat: string) => boolean);

/**
 * Envoy's stats_matcher, compiled. A stat it rejects does not exist: not in /stats, not exported to
 * Prometheus (Envoy keeps it as a null stat).
 */
export interface StatsMatcher {
  /** Whether the stat of this whole dotted name exists. */
  accepts(name: string): boolean;
  /**
   * The decision for all the stats under `prefix` (`cluster.<name>.`) at once: a sidecar of a large
   * mesh has thousands of clusters of a few dozen stats each, and under Istio's list a cluster's
   * comes down to four suffix tests on the stat's own short name, shared by every cluster and
   * remembered by stat name.
   */
  scope(prefix: string): ScopeDecision;
}

/** Undefined config: every stat exists (no matcher at all). */
export function compileStatsMatcher(config: StatsMatcherConfig | undefined): StatsMatcher | undefined {
  if (!config) return undefined;
  if ('rejectAll' in config) return { accepts: () => false, scope: () => false };
  const inclusion = 'inclusionList' in config;
  const patterns = (inclusion ? config.inclusionList : config.exclusionList).map(compilePattern);
  const any = (name: string): boolean => {
    for (const p of patterns) if (p.test(name)) return true;
    return false;
  };
  const combine = (tests: readonly ((stat: string) => boolean)[]): ScopeDecision => {
    const matched = (stat: string): boolean => {
      for (const t of tests) if (t(stat)) return true;
      return false;
    };
    return inclusion ? matched : (stat) => !matched(stat);
  };
  // the decisions made of patterns' own stat tests, by which patterns: a few, shared by thousands of scopes
  const shared = new Map<string, ScopeDecision>();
  return {
    accepts: inclusion ? any : (name) => !any(name),
    scope(prefix) {
      const tests: ((stat: string) => boolean)[] = [];
      let key = '';
      let own = false;
      for (let i = 0; i < patterns.length; i++) {
        const d = patterns[i].scope(prefix);
        if (d === true) return inclusion; // one pattern matches every stat here
        if (d === false) continue;
        if (d === STAT_ONLY) {
          tests.push(patterns[i].statTest!);
          key += `${i},`;
        } else {
          tests.push(d);
          own = true;
        }
      }
      if (tests.length === 0) return !inclusion;
      if (own) return combine(tests);
      let d = shared.get(key);
      if (d === undefined) shared.set(key, (d = remembered(combine(tests) as (stat: string) => boolean)));
      return d;
    },
  };
}

/** A test of stat names that remembers its answers (stat names are a few dozen, response codes aside). */
function remembered(test: (stat: string) => boolean): (stat: string) => boolean {
  const answers = new Map<string, boolean>();
  return (stat) => {
    let a = answers.get(stat);
    if (a === undefined) answers.set(stat, (a = test(stat)));
    return a;
  };
}

/** A pattern's scope decision: its own `statTest`, which needs nothing of the prefix. */
const STAT_ONLY = Symbol('stat only');

interface CompiledPattern {
  test(name: string): boolean;
  scope(prefix: string): boolean | typeof STAT_ONLY | ((stat: string) => boolean);
  statTest?: (stat: string) => boolean;
}

/**
 * One StringMatcher, and what it says of the names under a prefix. Case-sensitive prefixes, exact
 * names and suffixes are decided on the prefix or the stat's own name; a regex is ruled out by its
 * literal prefix (Istio's `vhost\..*\.route\..*` never runs the linear-time engine on a cluster
 * stat); anything else tests the whole name.
 */
function compilePattern(m: StringMatch): CompiledPattern {
  const test = compileStringMatch(m);
  const whole = (prefix: string) => (stat: string) => test(prefix + stat);
  if ('regex' in m) {
    const lit = literalPrefix(m.regex);
    return {
      test: lit ? (name) => name.startsWith(lit) && test(name) : test,
      scope: (prefix) => (prefix.startsWith(lit) || lit.startsWith(prefix) ? whole(prefix) : false),
    };
  }
  if (m.ignoreCase) return { test, scope: whole };
  if ('prefix' in m) {
    const want = m.prefix;
    return {
      test,
      scope: (prefix) => {
        if (prefix.startsWith(want)) return true;
        if (!want.startsWith(prefix)) return false;
        const rest = want.slice(prefix.length);
        return (stat) => stat.startsWith(rest);
      },
    };
  }
  if ('exact' in m) {
    const want = m.exact;
    return {
      test,
      scope: (prefix) => {
        if (!want.startsWith(prefix)) return false;
        const rest = want.slice(prefix.length);
        return (stat) => stat === rest;
      },
    };
  }
  if ('suffix' in m) {
    const want = m.suffix;
    // the starts of `want` that a prefix could end with (the rest then being a whole stat name), by
    // their last character: a scope's prefix ends with a dot, and so must they
    const heads = new Map<string, string[]>();
    for (let k = 1; k < want.length; k++) {
      const list = heads.get(want[k - 1]) ?? [];
      heads.set(want[k - 1], [...list, want.slice(0, k)]);
    }
    return {
      test,
      statTest: (stat) => stat.endsWith(want),
      // a stat shorter than `want` matches only with the prefix's end: when no prefix end can start
      // `want`, the stat's own name decides
      scope: (prefix) => ((heads.get(prefix[prefix.length - 1]) ?? []).some((h) => prefix.endsWith(h)) ? whole(prefix) : STAT_ONLY),
    };
  }
  const want = m.contains;
  return { test, scope: (prefix) => (prefix.includes(want) ? true : whole(prefix)) };
}

/**
 * The compiled matcher of the config in force: compiled at its first use (a proxy never scraped
 * never compiles its patterns), kept while later configs carry an equal matcher.
 */
export class StatsMatcherCache {
  private config: StatsMatcherConfig | undefined;
  private compiled: { matcher: StatsMatcher | undefined } | undefined;

  get(config: StatsMatcherConfig | undefined): StatsMatcher | undefined {
    if (config !== this.config && !plainEqual(config, this.config)) this.compiled = undefined;
    this.config = config;
    return (this.compiled ??= { matcher: compileStatsMatcher(config) }).matcher;
  }
}
