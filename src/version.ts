/** kubegate's version, as `kubegate version` prints it and agents announce it to the gateway. */
export const KUBEGATE_VERSION = "0.1.0";
