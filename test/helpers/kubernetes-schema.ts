/**
 * Kubernetes' own schemas (the OpenAPI of the API server, as the kubernetes-models package ships
 * them with its validators) for the workload kinds injection writes (and Services beside them): an object that does not
 * validate is one the API server would refuse.
 */
import { ReplicationController } from 'kubernetes-models/v1/ReplicationController';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { Job } from 'kubernetes-models/batch/v1/Job';

type Model = new (data: any) => { validate(): void };

const MODELS: Record<string, Model> = {
  'v1/Pod': Pod,
  'v1/Service': Service,
  'v1/ReplicationController': ReplicationController,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/ReplicaSet': ReplicaSet,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
};

/** The schema errors of an object (a List: of its items); `unchecked`: kinds the package has no schema for. */
export function kubernetesSchemaErrors(obj: Record<string, any>, unchecked: string[] = []): string[] {
  if (obj.kind === 'List') return ((obj.items ?? []) as Record<string, any>[]).flatMap((i) => kubernetesSchemaErrors(i, unchecked));
  const key = `${obj.apiVersion}/${obj.kind}`;
  const model = MODELS[key];
  if (!model) {
    unchecked.push(key);
    return [];
  }
  try {
    new model(structuredClone(obj)).validate();
    return [];
  } catch (e) {
    return [`${key} ${obj.metadata?.name ?? ''}: ${(e as Error).message}`];
  }
}
