/** What every controller of this folder is given: the API, a klog logger, an event recorder and the clock. */
import type { Klog } from '../api/klog.js';
import type { EventRecorder } from './events.js';
import type { Clients } from './kube.js';

export interface ControllerContext {
  clients: Clients;
  log: Klog;
  events: EventRecorder;
  now: () => Date;
}
