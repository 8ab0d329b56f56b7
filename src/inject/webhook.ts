/**
 * The mutating admission webhook's answer (`outrigger webhook`): an AdmissionReview (v1) for a Pod
 * comes in, the same injection as `outrigger inject` is applied to a copy, and the differences go
 * back as a JSONPatch (RFC 6902) of whole fields: labels, annotations, init containers,
 * containers, volumes. Which pods reach the webhook is the MutatingWebhookConfiguration's
 * selectors' business (a namespace labelled istio-injection=enabled, or a pod labelled
 * sidecar.istio.io/inject=true); a pod that opted out or is injected already gets no patch.
 */
import { injectObject, STATUS_ANNOTATION, type InjectOptions } from './inject.js';
import type { KubeObject } from './workloads.js';

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: { uid: string; kind?: { kind?: string }; namespace?: string; object?: KubeObject };
  response?: KubeObject;
}

/** A JSONPatch operation on a field of the pod. */
interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** The fields injection may change, as JSON pointers. */
const FIELDS: [string, (p: KubeObject) => unknown][] = [
  ['/metadata/labels', (p) => p.metadata?.labels],
  ['/metadata/annotations', (p) => p.metadata?.annotations],
  ['/spec/initContainers', (p) => p.spec?.initContainers],
  ['/spec/containers', (p) => p.spec?.containers],
  ['/spec/volumes', (p) => p.spec?.volumes],
];

export class AdmissionError extends Error {
  override readonly name = 'AdmissionError';
}

/** The AdmissionReview answering `review`: allowed, with the injection's patch when there is one. */
export function admissionResponse(review: AdmissionReview, options: InjectOptions): AdmissionReview {
  const req = review.request;
  if (review.kind !== 'AdmissionReview' || !req?.uid) throw new AdmissionError('not an AdmissionReview with a request uid');
  const base = { apiVersion: review.apiVersion || 'admission.k8s.io/v1', kind: 'AdmissionReview' as const };
  const pod = req.object;
  if (!pod || pod.kind !== 'Pod' || req.kind?.kind !== undefined && req.kind.kind !== 'Pod') return { ...base, response: { uid: req.uid, allowed: true } };
  if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) return { ...base, response: { uid: req.uid, allowed: true } };
  const injected = structuredClone(pod);
  // the pod's namespace may only be in the request (a pod created by a controller)
  injected.metadata ??= {};
  injected.metadata.namespace ??= req.namespace;
  const skipped = injectObject(injected, options);
  const ops = skipped.length ? [] : patchOps(pod, injected);
  return {
    ...base,
    response: { uid: req.uid, allowed: true, ...(ops.length ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') } : {}) },
  };
}

/** Whole-field operations turning `before` into `after` for the fields injection changes. */
export function patchOps(before: KubeObject, after: KubeObject): PatchOp[] {
  const ops: PatchOp[] = [];
  if (!before.metadata) ops.push({ op: 'add', path: '/metadata', value: {} });
  for (const [path, get] of FIELDS) {
    const was = get(before);
    const now = get(after);
    if (JSON.stringify(was) === JSON.stringify(now)) continue;
    if (now === undefined) ops.push({ op: 'remove', path });
    else ops.push({ op: was === undefined ? 'add' : 'replace', path, value: now });
  }
  return ops;
}
