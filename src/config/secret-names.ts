/**
 * The names under which istiod's TLS contexts ask SDS for secrets, and how they are spelt
 * (pilot's security model and credentials packages): the agent serves the workload's own
 * certificate as `default` and the mesh roots as `ROOTCA`; a credentialName is a Kubernetes
 * secret, `kubernetes://<name>`, its CA `kubernetes://<name>-cacert`; files named by a
 * DestinationRule or Gateway are `file-cert:<cert>~<key>` and `file-root:<ca>`.
 */
export const WORKLOAD_CERT_SECRET = 'default';
export const ROOT_CA_SECRET = 'ROOTCA';

const KUBERNETES_PREFIX = 'kubernetes://';
const CA_SUFFIX = '-cacert';

/** `kubernetes://<name>`: a credentialName's certificate and key (or, for a client, its CA). */
export function credentialSecretName(credentialName: string): string {
  return credentialName.startsWith(KUBERNETES_PREFIX) ? credentialName : KUBERNETES_PREFIX + credentialName;
}

/** `kubernetes://<name>-cacert`: the CA that goes with a credentialName. */
export function credentialCaSecretName(credentialName: string): string {
  return credentialSecretName(credentialName) + CA_SUFFIX;
}

/** `file-cert:<cert>~<key>`: a certificate and key read from files. */
export function fileCertSecretName(certPath: string, keyPath: string): string {
  return `file-cert:${certPath}~${keyPath}`;
}

/** `file-root:<ca>`: CAs read from a file. */
export function fileRootSecretName(caPath: string): string {
  return `file-root:${caPath}`;
}
