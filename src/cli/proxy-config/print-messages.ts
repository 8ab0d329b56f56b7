import { indentJson } from './go-json.js';
import { jsonToYaml } from './go-yaml.js';
import { marshalJsonpb } from './jsonpb.js';

export type OutputFormat = 'json' | 'yaml';

/**
 * A list of messages as istioctl's `-o json|yaml` prints it: each marshalled by jsonpb, the list
 * re-indented by encoding/json (4 spaces), or converted to YAML; then a newline (Fprintln).
 */
export function printMessages(typeName: string, messages: readonly unknown[], format: OutputFormat): string {
  const json = indentJson(`[${messages.map((m) => marshalJsonpb(typeName, m)).join(',')}]`, '    ');
  return `${format === 'yaml' ? jsonToYaml(JSON.parse(json)) : json}\n`;
}

/** One message as protomarshal.ToJSONWithIndent(msg, "    ") writes it (secret and bootstrap dumps), or as YAML. */
export function printMessage(typeName: string, message: unknown, format: OutputFormat): string {
  const json = marshalJsonpb(typeName, message, '    ');
  return `${format === 'yaml' ? jsonToYaml(JSON.parse(json)) : json}\n`;
}
