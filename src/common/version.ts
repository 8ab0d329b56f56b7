import { readFileSync } from 'node:fs';

let version: string | undefined;

/** package.json's version (read once): --version, /server_info, the spans' telemetry.sdk.version. */
export function packageVersion(): string {
  return (version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
}
