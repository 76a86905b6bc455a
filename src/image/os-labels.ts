/**
 * The labels of a machine-os-content image's config that the node and the cache read: a module
 * of its own so that reading them does not load the image builder (a pivot's start-up).
 */

/** The OSTree commit the image's `/srv/repo` holds: the trust anchor of an object pull. */
export const COMMIT_LABEL = 'com.coreos.ostree-commit';
export const VERSION_LABEL = 'version';
export const BUILD_VERSIONS_LABEL = 'io.openshift.build.versions';
