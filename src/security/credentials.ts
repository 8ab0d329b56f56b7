// Credentials named by credentialName (Gateway servers, DestinationRules), read from --credential-dir:
// one directory per name in the layout of a mounted Kubernetes secret.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Credential, CredentialNeeds, CredentialResult, CredentialSource } from '../config/secrets.js';
import { CertError, checkPrivateKey, parseCertificates } from './workload-certs.js';

/** The files of a credential, Kubernetes TLS secret keys first, then Istio's generic-secret keys. */
const CERT_FILES = ['tls.crt', 'cert'];
const KEY_FILES = ['tls.key', 'key'];
const CA_FILES = ['ca.crt', 'cacert'];
/** Istio: the CA of a MUTUAL server may come from a secret of its own, `<name>-cacert`. */
const CA_SECRET_SUFFIX = '-cacert';

export type { Credential, CredentialNeeds, CredentialResult } from '../config/secrets.js';

/**
 * Reads credentials from a directory, validating each (certificate parses, key matches it, CA
 * parses), and keeps the last good copy of each: a rotation caught half-written or broken goes on
 * serving the previous certificate (with a warning) until the files are whole again.
 */
export class CredentialStore implements CredentialSource {
  private readonly lastGood = new Map<string, Credential>();

  constructor(readonly dir: string) {}

  /** The directory itself must be there (a mistyped flag is an error, a missing credential only skips its user). */
  async checkDir(): Promise<void> {
    const st = await stat(this.dir).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error) throw new Error(`credential-dir ${this.dir}: ${st.code === 'ENOENT' ? 'no such directory' : `cannot be read (${st.code ?? st.message})`}`);
    if (!st.isDirectory()) throw new Error(`credential-dir ${this.dir}: not a directory`);
  }

  async load(name: string, needs: CredentialNeeds, now: number = Date.now()): Promise<CredentialResult> {
    const key = JSON.stringify([name, needs]);
    try {
      const { credential, warning } = await this.read(name, needs, now);
      this.lastGood.set(key, credential);
      return { credential, ...(warning ? { warning } : {}) };
    } catch (e) {
      const reason = e instanceof CertError ? e.message : `credential-dir ${this.dir}: ${(e as Error).message}`;
      const previous = this.lastGood.get(key);
      if (previous) return { credential: previous, warning: `${reason}; the last good copy of credential "${name}" stays in use` };
      return { error: reason };
    }
  }

  private async read(name: string, needs: CredentialNeeds, now: number): Promise<{ credential: Credential; warning?: string }> {
    // Istio also spells a secret kubernetes://name; a path of its own is not a secret name
    const bare = name.startsWith('kubernetes://') ? name.slice('kubernetes://'.length) : name;
    if (!/^[a-zA-Z0-9][-a-zA-Z0-9_.]*$/.test(bare)) throw new CertError(this.dir, name, 'is not a valid credential name (a Kubernetes secret name)', 'credential-dir');
    const out: Credential = {};
    let warning: string | undefined;
    if (needs.certificate) {
      const cert = await this.readFirst(bare, CERT_FILES);
      const key = await this.readFirst(bare, KEY_FILES);
      if (!cert) throw this.error(`${bare}/${CERT_FILES[0]}`, `is missing (no ${CERT_FILES.join(' or ')} in ${join(this.dir, bare)})`);
      if (!key) throw this.error(`${bare}/${KEY_FILES[0]}`, `is missing (no ${KEY_FILES.join(' or ')} in ${join(this.dir, bare)})`);
      const chain = parseCertificates(this.dir, cert.file, cert.text, 'credential-dir');
      checkPrivateKey(this.dir, key.file, key.text, chain[0], cert.file, 'credential-dir');
      // Istio serves an expired certificate (and warns): so does this
      const leaf = chain[0];
      if (now > leaf.validToDate.getTime() || now < leaf.validFromDate.getTime()) {
        warning = `credential-dir ${this.dir}: ${cert.file} is expired or not yet valid (notBefore ${leaf.validFromDate.toISOString()}, notAfter ${leaf.validToDate.toISOString()})`;
      }
      out.certPem = cert.text;
      out.keyPem = key.text;
    }
    const ca = (await this.readFirst(bare, CA_FILES)) ?? (await this.readFirst(bare + CA_SECRET_SUFFIX, CA_FILES));
    if (ca) {
      parseCertificates(this.dir, ca.file, ca.text, 'credential-dir');
      out.caPem = ca.text;
    } else if (needs.ca === 'required') {
      throw this.error(`${bare}/${CA_FILES[0]}`, `is missing: a MUTUAL server needs a CA (${CA_FILES.join(' or ')} in ${join(this.dir, bare)} or in ${join(this.dir, bare + CA_SECRET_SUFFIX)})`);
    }
    if (!needs.certificate && !out.caPem) throw this.error(`${bare}/${CA_FILES[0]}`, `is missing (no ${CA_FILES.join(' or ')} in ${join(this.dir, bare)} or in ${join(this.dir, bare + CA_SECRET_SUFFIX)})`);
    return { credential: out, ...(warning ? { warning } : {}) };
  }

  /** `file`: relative to the credential directory, e.g. `gw-cert/tls.key`. */
  private error(file: string, reason: string): CertError {
    return new CertError(this.dir, file, reason, 'credential-dir');
  }

  /** The first of `files` present in the credential's directory (as `name/file`); undefined when none is. */
  private async readFirst(name: string, files: string[]): Promise<{ file: string; text: string } | undefined> {
    for (const f of files) {
      try {
        const text = await readFile(join(this.dir, name, f), 'utf8');
        return { file: `${name}/${f}`, text };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw this.error(`${name}/${f}`, `cannot be read (${code ?? (e as Error).message})`);
      }
    }
    return undefined;
  }
}
