import { BlockList, isIP } from 'node:net';

/** An IP range: `10.0.0.0/8`, `2001:db8::/32`, or a single address (a /32 or /128). */
export interface Cidr {
  address: string;
  prefixLength: number;
  family: 4 | 6;
}

/** Parses a CIDR or a bare IP; undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const len = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(len) || len < 0 || len > max || (slash >= 0 && !/^\d+$/.test(text.slice(slash + 1)))) return undefined;
  return { address, prefixLength: len, family: family as 4 | 6 };
}

/**
 * A set of CIDRs answering "does this IP fall in one, and how long is the longest such prefix"
 * (Envoy's filter chain matching prefers the most specific range). Built on node's BlockList.
 */
export class CidrSet {
  private readonly byLength: { length: number; list: BlockList }[] = [];

  constructor(cidrs: readonly Cidr[]) {
    const lengths = [...new Set(cidrs.map((c) => c.prefixLength + (c.family === 6 ? 1000 : 0)))].sort((a, b) => b - a);
    for (const key of lengths) {
      const list = new BlockList();
      for (const c of cidrs) {
        if (c.prefixLength + (c.family === 6 ? 1000 : 0) !== key) continue;
        list.addSubnet(c.address, c.prefixLength, c.family === 4 ? 'ipv4' : 'ipv6');
      }
      this.byLength.push({ length: key % 1000, list });
    }
    this.byLength.sort((a, b) => b.length - a.length);
  }

  /** The longest matching prefix length, or -1 when the address is in none of the ranges. */
  longestMatch(address: string): number {
    const family = isIP(address);
    if (family === 0) return -1;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    for (const { length, list } of this.byLength) if (list.check(address, type)) return length;
    return -1;
  }
}
