/**
 * Field validation for the control plane's requests. Each check throws a catalogued
 * InvalidArgument naming the field and what is wrong with it, so callers can fix input.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { errors } from "../errors.ts";
import { validateLabels } from "../kube/label-selector.ts";
import { identityFromCert, parseCaBundle } from "../tls/pki.ts";
import { isDataPlaneId } from "../tunnel/protocol.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Largest PEM bundle, token or label map we accept; bigger input is a mistake or an attack. */
export const LIMITS = {
  name: 63,
  displayName: 256,
  subject: 256,
  labels: 64,
  pem: 64 * 1024,
  token: 16 * 1024,
  url: 2048,
  namespaces: 256,
  reason: 1024,
} as const;

/** Cluster names and namespaces: a DNS-1123 label, as Kubernetes names namespaces. */
export function dnsLabel(field: string, value: string): string {
  if (value === "") throw errors.invalid(field, "is required");
  if (value.length > LIMITS.name) throw errors.invalid(field, `must be at most ${LIMITS.name} characters`);
  if (!DNS1123_LABEL.test(value))
    throw errors.invalid(field, `${JSON.stringify(value)} must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit`);
  return value;
}

export function maxLength(field: string, value: string, max: number): string {
  if (value.length > max) throw errors.invalid(field, `must be at most ${max} characters (got ${value.length})`);
  return value;
}

/** A data-plane id in the agent mesh: "" (no part in it) or up to 64 of [A-Za-z0-9._-]. */
export function dataPlaneId(field: string, value: string): string {
  if (value !== "" && !isDataPlaneId(value)) throw errors.invalid(field, "must be at most 64 letters, digits, '.', '_' or '-'");
  return value;
}

/** Subject and API-key names: printable, no control characters, bounded. */
export function subjectName(field: string, value: string): string {
  if (value.trim() === "") throw errors.invalid(field, "is required");
  maxLength(field, value, LIMITS.subject);
  // Control characters would forge log lines or header values downstream.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw errors.invalid(field, "must not contain control characters");
  return value;
}

export function labels(field: string, value: Record<string, string>): Record<string, string> {
  if (Object.keys(value).length > LIMITS.labels) throw errors.invalid(field, `at most ${LIMITS.labels} labels`);
  try {
    validateLabels(value);
  } catch (err) {
    throw errors.invalid(field, (err as Error).message);
  }
  return value;
}

export function httpsUrl(field: string, value: string): string {
  if (value === "") throw errors.invalid(field, "is required");
  maxLength(field, value, LIMITS.url);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw errors.invalid(field, `${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== "https:") throw errors.invalid(field, `must be an https:// URL (got ${url.protocol}//)`);
  if (url.username !== "" || url.password !== "") throw errors.invalid(field, "must not carry credentials");
  if (url.search !== "" || url.hash !== "") throw errors.invalid(field, "must not have a query or fragment");
  return value.replace(/\/+$/, "");
}

export function caBundle(field: string, value: string): string {
  if (value === "") throw errors.invalid(field, "is required (PEM CA bundle that signed the member's serving certificate)");
  maxLength(field, value, LIMITS.pem);
  try {
    parseCaBundle(value);
  } catch (err) {
    throw errors.invalid(field, `cannot parse the CA bundle: ${(err as Error).message}`);
  }
  return value;
}

export function bearerToken(field: string, value: string): string {
  if (value.trim() === "") throw errors.invalid(field, "is empty");
  maxLength(field, value, LIMITS.token);
  if (/[\s\u0000-\u001f\u007f]/.test(value)) throw errors.invalid(field, "must not contain whitespace or control characters");
  return value;
}

/**
 * A front-proxy client certificate: a certificate with its key, and a CN, which
 * kube-apiserver compares with --requestheader-allowed-names.
 */
export function frontProxyCertificate(field: string, certPem: string, keyPem: string): void {
  const cert = clientCertificate(field, certPem, keyPem);
  if (identityFromCert(cert).user === "")
    throw errors.invalid(`${field}.cert_pem`, "has no common name (CN): the member checks the CN against its --requestheader-allowed-names");
}

export function clientCertificate(field: string, certPem: string, keyPem: string): X509Certificate {
  maxLength(`${field}.cert_pem`, certPem, LIMITS.pem);
  maxLength(`${field}.key_pem`, keyPem, LIMITS.pem);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw errors.invalid(`${field}.cert_pem`, "is not a PEM certificate");
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw errors.invalid(`${field}.key_pem`, "is not a PEM private key");
  }
  if (!cert.checkPrivateKey(key)) throw errors.invalid(field, "the private key does not match the certificate");
  return cert;
}

export function pageSize(value: number): number {
  if (value < 0 || value > 500) throw errors.invalid("page_size", "must be between 0 and 500");
  return value === 0 ? 100 : value;
}
