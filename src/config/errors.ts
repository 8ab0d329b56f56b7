/** Where a piece of configuration came from, so an error can point an operator at it. */
export interface ConfigLocation {
  file?: string;
  /** 0-based index of the YAML document within the file. */
  docIndex?: number;
  /** 1-based line of the offending field (or of the document when the field has no line). */
  line?: number;
  kind?: string;
  name?: string;
  namespace?: string;
  /** Dotted path to the field, e.g. `spec.http[0].route[1].weight`. */
  field?: string;
}

/** A configuration error an operator can act on: it names file, document, resource and field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly reason: string,
    readonly location: ConfigLocation = {},
  ) {
    super(formatConfigError(reason, location));
  }
}

export function formatConfigError(reason: string, loc: ConfigLocation): string {
  const where: string[] = [];
  if (loc.file) where.push(loc.line ? `${loc.file}:${loc.line}` : loc.file);
  if (loc.docIndex !== undefined) where.push(`document ${loc.docIndex}`);
  if (loc.kind) {
    const id = loc.name ? `${loc.namespace ? loc.namespace + '/' : ''}${loc.name}` : '(unnamed)';
    where.push(`${loc.kind} ${id}`);
  }
  if (loc.field) where.push(`field ${loc.field}`);
  return where.length ? `${where.join(', ')}: ${reason}` : reason;
}

/** Several config errors found in one pass; the message lists them all. */
export class ConfigErrors extends Error {
  override readonly name = 'ConfigErrors';
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}
