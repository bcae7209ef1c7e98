import {
  HTTPRoute,
  type IHTTPRoute,
} from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { Gateway, type IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import {
  CustomResourceDefinition,
  type ICustomResourceDefinition,
} from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount, type IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Role, type IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding, type IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';

/**
 * The kinds the manifests may use with a schema from kubernetes-models (Kubernetes' own OpenAPI)
 * or @kubernetes-models/gateway-api (the Gateway API CRDs), keyed by `apiVersion kind`. Each
 * validator throws a ValidationError naming the failing field. The Inference Extension's kinds are
 * checked against their CRD instead (crd-schema.ts).
 */
const MODEL_VALIDATORS: Readonly<Record<string, (object: unknown) => void>> = {
  'apps/v1 Deployment': (o) => new Deployment(o as IDeployment).validate(),
  'v1 Service': (o) => new Service(o as IService).validate(),
  'v1 ServiceAccount': (o) => new ServiceAccount(o as IServiceAccount).validate(),
  'v1 ConfigMap': (o) => new ConfigMap(o as IConfigMap).validate(),
  'rbac.authorization.k8s.io/v1 Role': (o) => new Role(o as IRole).validate(),
  'rbac.authorization.k8s.io/v1 RoleBinding': (o) => new RoleBinding(o as IRoleBinding).validate(),
  'gateway.networking.k8s.io/v1 Gateway': (o) => new Gateway(o as IGateway).validate(),
  'gateway.networking.k8s.io/v1 HTTPRoute': (o) => new HTTPRoute(o as IHTTPRoute).validate(),
  'apiextensions.k8s.io/v1 CustomResourceDefinition': (o) =>
    new CustomResourceDefinition(o as ICustomResourceDefinition).validate(),
};

/** The validator for this apiVersion and kind, or undefined when kubernetes-models has none here. */
export function modelValidator(apiVersion: string, kind: string): ((object: unknown) => void) | undefined {
  return MODEL_VALIDATORS[`${apiVersion} ${kind}`];
}
