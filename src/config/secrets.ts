/**
 * What the config loader needs from secret material, without reading it itself: the layer that
 * reads and validates certificates (security/workload-certs.ts, security/credentials.ts, Envoy's
 * SDS in spirit) implements these, and the CLI passes them in. So config/ stays pure translation.
 */
import type { Secret } from './snapshot.js';
import { ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } from './secret-names.js';

export interface Credential {
  certPem?: string;
  keyPem?: string;
  caPem?: string;
}

/** What a user of the credential needs from it. */
export interface CredentialNeeds {
  /** A certificate and its key (a Gateway server; a MUTUAL DestinationRule). */
  certificate: boolean;
  /** A CA to verify the peer (a MUTUAL Gateway server: required; a DestinationRule: used when present). */
  ca: 'required' | 'optional';
}

export type CredentialResult = { credential: Credential; warning?: string } | { error: string };

/** Credentials by credentialName (--credential-dir). */
export interface CredentialSource {
  /** Where they come from, for watching and messages. */
  readonly dir: string;
  /** Throws when the source itself is unusable (a mistyped directory). */
  checkDir(): Promise<void>;
  load(name: string, needs: CredentialNeeds): Promise<CredentialResult>;
}

/** The workload's mesh certificate, its key and the mesh roots (Istio's cert-chain.pem, key.pem, root-cert.pem). */
export interface WorkloadCertificate {
  certChainPem: string;
  keyPem: string;
  rootCertPem: string;
}

/** Reads and validates the workload certificate (--cert-dir); throws with the precise reason. */
export type WorkloadSecretSource = () => Promise<WorkloadCertificate>;

/** The workload certificate as istio-agent serves it over SDS: `default` and `ROOTCA`. */
export function workloadSecrets(c: WorkloadCertificate): Secret[] {
  return [
    { name: WORKLOAD_CERT_SECRET, tlsCertificate: { certificateChain: c.certChainPem, privateKey: c.keyPem } },
    { name: ROOT_CA_SECRET, validationContext: { trustedCa: c.rootCertPem } },
  ];
}
