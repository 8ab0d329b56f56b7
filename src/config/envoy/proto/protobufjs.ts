import type Protobuf from 'protobufjs';
import { onFirstUse } from '../../../common/lazy-module.js';

const load = onFirstUse<typeof Protobuf>('protobufjs');
let ready: typeof Protobuf | undefined;

/**
 * protobufjs, loaded on first use: a proxy fed Istio YAML never holds it unless its config has
 * something only Envoy's protos describe (an EnvoyFilter's values). The Duration wrapper is
 * registered before any type is set up.
 */
export function protobufjs(): typeof Protobuf {
  if (ready) return ready;
  const pb = load();
  registerDurationWrapper(pb);
  return (ready = pb);
}

/**
 * A Duration in proto3's JSON form (`"1s"`, `"0.500s"`) when a message is converted for JSON (the
 * admin API's /config_dump, as Envoy shows it); the plain form keeps `{seconds, nanos}`. protobufjs
 * consults its wrappers when it first sets a type up, so this is registered before any is loaded.
 */
function registerDurationWrapper(pb: typeof Protobuf): void {
  pb.wrappers['.google.protobuf.Duration'] = {
    fromObject(this: Protobuf.Type, object: Record<string, unknown>) {
      return this.fromObject(object);
    },
    toObject(this: Protobuf.Type, message: Protobuf.Message, options?: Protobuf.IConversionOptions) {
      if (!options?.json) return this.toObject(message, options);
      const { seconds, nanos } = this.toObject(message, { longs: String }) as { seconds?: string; nanos?: number };
      const s = BigInt(seconds ?? '0');
      const n = nanos ?? 0;
      const negative = s < 0n || n < 0;
      const abs = (s < 0n ? -s : s).toString();
      const frac = Math.abs(n);
      // 0, 3, 6 or 9 fractional digits, as protobuf's JSON printer writes them
      const digits = frac === 0 ? '' : frac % 1_000_000 === 0 ? `.${String(frac / 1_000_000).padStart(3, '0')}` : frac % 1000 === 0 ? `.${String(frac / 1000).padStart(6, '0')}` : `.${String(frac).padStart(9, '0')}`;
      return `${negative ? '-' : ''}${abs}${digits}s` as unknown as { [k: string]: unknown };
    },
  };
}
