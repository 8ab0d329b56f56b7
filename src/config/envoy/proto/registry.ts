import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type protobuf from 'protobufjs';
import { protobufjs } from './protobufjs.js';

/**
 * The Envoy v3 API as protobuf types: every .proto that @grpc/grpc-js-xds ships (Envoy's
 * data-plane-api, xds/udpa, googleapis, validate), loaded once, on first use (~1 s: only a proxy
 * fed by a bootstrap or xDS pays it). Field names are the protos' own (snake_case), as in Envoy's
 * config dumps and istiod's code.
 *
 * One plain-object form for a message, whichever way it came (binary from an xDS stream, proto3
 * JSON from a bootstrap file): what `decodeMessage` returns. int64 as decimal strings, enums by
 * name, bytes as Buffers, only the fields that were set; a set oneof member also names itself
 * (`config_type: 'typed_config'`); an Any is `{type_url, value}` with its payload still encoded
 * (unpack it with any.ts when a translator needs it).
 */

const require = createRequire(import.meta.url);
const DEPS = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(DEPS, d));

/**
 * Every .proto of the Envoy API is loaded (with what it imports), the xds matchers (istiod's
 * filter_chain_matcher: xds.type.matcher.v3.IPMatcher) and the TypedStructs istiod wraps its own types in.
 */
const ENVOY_TREE = path.join(DEPS, 'envoy-api', 'envoy');
const XDS_MATCHERS = path.join(DEPS, 'xds', 'xds', 'type', 'matcher', 'v3');
const EXTRA = ['udpa/type/v1/typed_struct.proto', 'xds/type/v3/typed_struct.proto'].map((f) => path.join(DEPS, 'xds', f));

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false, oneofs: true };

let root: protobuf.Root | undefined;

/** google/protobuf/descriptor.proto (validate and the annotations import it): protobufjs ships it as JSON. */
function addDescriptorProto(): void {
  const descriptor = require('protobufjs/google/protobuf/descriptor.json') as { nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } } };
  protobufjs().common('descriptor', descriptor.nested.google.nested.protobuf.nested as Record<string, protobuf.INamespace>);
}

function protoFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) protoFiles(p, out);
    else if (e.name.endsWith('.proto') && /\/v3(alpha)?\//.test(p)) out.push(p); // v2 leftovers import protos not shipped
  }
  return out;
}

/** Where an import resolves in the include dirs ('' for protobufjs's own well-known types), or undefined. */
function resolveImport(target: string): string | undefined {
  if (target.startsWith('google/protobuf/')) return '';
  for (const dir of INCLUDE) {
    const candidate = path.join(dir, target);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const importable = new Map<string, boolean>();
/** Whether every file `file` imports, transitively, is shipped (a few v3 files import OpenCensus and the like, which are not). */
function importsResolve(file: string): boolean {
  let ok = importable.get(file);
  if (ok !== undefined) return ok;
  importable.set(file, true); // an import cycle resolves as far as this file is concerned
  ok = true;
  for (const m of readFileSync(file, 'utf8').matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)) {
    const dep = resolveImport(m[1]!);
    if (dep === undefined || (dep !== '' && !importsResolve(dep))) {
      ok = false;
      break;
    }
  }
  importable.set(file, ok);
  return ok;
}

/** The loaded API (loads it on the first call). */
export function protoRoot(): protobuf.Root {
  if (root) return root;
  addDescriptorProto();
  const r = new (protobufjs().Root)();
  // google/protobuf/*.proto: protobufjs's own copies of the well-known types
  r.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : resolveImport(target) || target);
  r.loadSync([...protoFiles(ENVOY_TREE), ...protoFiles(XDS_MATCHERS)].filter((f) => importsResolve(f)).concat(EXTRA), { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/** The message type of a full name (`envoy.config.cluster.v3.Cluster`), or undefined when the API has none. */
export function findMessageType(fullName: string): protobuf.Type | undefined {
  try {
    return protoRoot().lookupType(fullName);
  } catch {
    return undefined;
  }
}

/** The message type of a full name; throws when the API has none (a programming error, not bad config). */
export function messageType(fullName: string): protobuf.Type {
  const t = findMessageType(fullName);
  if (!t) throw new Error(`no protobuf message type ${fullName}`);
  return t;
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `envoy.config.cluster.v3.Cluster`. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** The wire bytes of a message of `type`, decoded to the plain form described above. */
export function decodeMessage<T>(type: protobuf.Type, bytes: Uint8Array): T {
  return type.toObject(type.decode(bytes), TO_OBJECT) as T;
}

/** The plain form of a message of `type` encoded to wire bytes (the inverse of decodeMessage). */
export function encodeMessage(type: protobuf.Type, message: object): Buffer {
  return Buffer.from(type.encode(type.fromObject(message)).finish());
}
