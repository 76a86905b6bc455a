/** `mco image`: container images in registries and OCI layouts, as skopeo and `oc image` do it. */
import { lazyVerb as verb, type Group } from '../command.js';

export const imageGroup: Group = {
  name: 'image',
  summary: 'Inspect, pull, extract, build and push OS container images.',
  globals: {},
  verbs: {
    inspect: verb('Show an image\'s digest, labels and layers (as skopeo inspect)', () => import('./inspect.js')),
    pull: verb('Copy an image from a registry into an OCI layout directory', () => import('./pull.js')),
    extract: verb('Extract files of an image into a directory (as oc image extract)', () => import('./extract.js')),
    build: verb('Build an image from directories or an OSTree commit (machine-os-content)', () => import('./build.js')),
    push: verb('Copy an image between an OCI layout and a registry (as skopeo copy)', () => import('./push.js')),
  },
};
