/**
 * The API group of the Machine Config Operator's own kinds, and their resource names, as the
 * CRDs in `manifests/` declare them (one source for clients, controllers and the server).
 */
export const MCO_GROUP = 'machineconfiguration.openshift.io';
export const MCO_VERSION = 'v1';
/** `apiVersion` of every MachineConfig, MachineConfigPool and ControllerConfig. */
export const MCO_API_VERSION = `${MCO_GROUP}/${MCO_VERSION}`;

export const MACHINE_CONFIGS = 'machineconfigs';
export const MACHINE_CONFIG_POOLS = 'machineconfigpools';
export const CONTROLLER_CONFIGS = 'controllerconfigs';
