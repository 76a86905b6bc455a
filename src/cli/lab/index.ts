/** `mco lab`: the whole fleet on one machine — API server, registry, controllers, simulated nodes. */
import { lazyVerb as verb, type Command, type Group } from '../command.js';

/** `--dir`, shared by every lab verb. */
export const DIR_OPTION: Command['options'] = {
  dir: { type: 'string', description: 'The lab\'s directory (default: .lab)', argument: 'DIR' },
};

export const labGroup: Group = {
  name: 'lab',
  summary: 'A one-machine cluster: the API server, a registry, the operator, the controller and simulated nodes.',
  globals: DIR_OPTION,
  verbs: {
    up: verb('Start the lab in the background (create it the first time, resume it later); returns when it is ready', () => import('./up.js')),
    down: verb('Stop every process of the lab; its state stays for the next up', () => import('./down.js')),
    status: verb('Print the pools, the nodes and the lab\'s processes', () => import('./status.js')),
    kubeconfig: verb('Print the path of the lab\'s admin kubeconfig', () => import('./kubeconfig.js')),
    ssh: verb('A shell, or one command, on a node: rpm-ostree, ostree admin, machine-config-daemon pivot and reboot act on it', () => import('./ssh.js')),
    reboot: verb('Reboot a node: its daemon stops, its firmware boots the default boot entry, its daemon starts', () => import('./reboot.js')),
    demo: verb('Play the seed\'s cluster story against the running lab, each command before its output', () => import('./demo.js')),
    nodes: verb('Host the daemons of several nodes in one process (what the supervisor runs for large fleets)', () => import('./nodes.js')),
    supervise: verb('Run the lab\'s supervisor in the foreground (what up starts in the background)', () => import('./supervise.js')),
    boot: verb('Boot the default entry of a sysroot in a VM (qemu) and print the VERSION it reports', () => import('./boot.js')),
    'boot-tree': verb('Write a bootable OS tree (real kernel, initramfs with ostree-prepare-root, busybox) for `mco lab boot`', () => import('./boot-tree.js')),
  },
};
