/** Who is making a request, as kube-apiserver's authenticators report it. */

/** A Kubernetes user.Info. */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** The group every authenticated identity carries. */
export const AUTHENTICATED = "system:authenticated";

/** Adds system:authenticated (and service-account groups) the way the real server does. */
export function withImpliedGroups(user: UserInfo): UserInfo {
  const groups = [...user.groups];
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.name);
  if (sa && groups.length === 0) groups.push("system:serviceaccounts", `system:serviceaccounts:${sa[1]}`);
  if (user.name !== "system:anonymous" && !groups.includes(AUTHENTICATED)) groups.push(AUTHENTICATED);
  return { ...user, groups };
}
