import { packageVersion } from '../common/version.js';

/**
 * What `--version` prints, in Envoy's shape (TCLAP's `<program>  version: <revision>/<version>/
 * <status>/<build type>/<TLS library>` between blank lines), so tools that parse Envoy's answer
 * read Outrigger's version: revision `outrigger` (no git revision is built in), the package
 * version, Clean, RELEASE, and OpenSSL (Node.js's TLS library).
 */
export function versionText(): string {
  return `\noutrigger  version: outrigger/${packageVersion()}/Clean/RELEASE/OpenSSL\n\n`;
}
