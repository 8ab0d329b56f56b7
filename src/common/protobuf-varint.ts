/** Protobuf's base-128 varints, for the few messages written or read by hand (OTLP logs, gRPC health checks). */

/** `n` as a varint. */
export function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  const bytes: number[] = [];
  while (v > 0x7fn) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

/** The varint at `at` (up to 32 bits) and where the next field starts. */
export function readVarint(b: Buffer, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  let i = at;
  while (i < b.length && shift < 35) {
    const byte = b[i++];
    value |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) break;
    shift += 7;
  }
  return [value >>> 0, i];
}
