/** The fake kube-apiserver for tests: start it, point kubectl or a proxy at it, inspect what it saw. */
export { startFakeApiserver, type FakeApiserver, type FakeApiserverOptions } from "./server.ts";
export type { Hook, HookMatch, Hooks } from "./hooks.ts";
export type { KubeconfigUser } from "./kubeconfig.ts";
export type { KubeObject } from "./object.ts";
export type { RecordedRequest } from "./request-log.ts";
export type { UserInfo } from "./identity.ts";
export type { StatusBody } from "./status.ts";
export { clusterRoleBinding, roleBinding, IMPERSONATOR_ROLE } from "./rbac-defaults.ts";
export { logLine, INITIAL_LOG_LINES } from "./logs.ts";
