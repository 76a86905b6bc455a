/** `mco release`: OpenShift release payloads, as `oc adm release new|info`. */
import { lazyVerb as verb, type Group } from '../command.js';

export const releaseGroup: Group = {
  name: 'release',
  summary: 'Build release payloads and find component images in them (as oc adm release).',
  globals: {},
  verbs: {
    new: verb('Build a release image from a list of component images', () => import('./new.js')),
    info: verb('Show a release image, or the pull spec of one of its images', () => import('./info.js')),
  },
};
