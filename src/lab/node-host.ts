/**
 * Many simulated nodes in one process, for fleets too large for a process per node (200
 * daemons of ~60 MiB each would not fit beside everything else): each node's daemon runs
 * through `startDaemon` with its own logger (klog lines into its Pod's log file), its own
 * kernel command line and boot identity, and a rebooter that ends that daemon only. A node
 * whose daemon ended in a reboot is booted by the same firmware the supervisor uses, then its
 * daemon starts again; a `reboot` request (a file the supervisor drops in the node's
 * directory) stops its daemon first. A daemon that fails to start is retried with backoff.
 */
import { closeSync, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createKlog } from '../api/klog.js';
import { startDaemon, type RunningDaemon } from '../daemon/daemon.js';
import { sourceLogger } from '../daemon/log.js';
import { RegistryClient } from '../image/registry-client.js';
import { cacheContentSource } from '../node/os-content.js';
import { registryImageSource } from '../node/os-image.js';
import { bootSimulatedNode, simulatedBoot } from '../sysroot/boot.js';
import { bootIdentity, bootNode } from './firmware.js';
import { nodePaths, podLogPath, type LabPaths } from './layout.js';
import { restartDelayMs } from './processes.js';
import { reportNodeReady, type LabNode } from './seed.js';

/** The file whose appearance asks a hosted node to reboot. */
export const rebootRequestPath = (paths: LabPaths, node: string): string => join(nodePaths(paths, node).dir, 'reboot-request');

export interface HostNodesOptions {
  paths: LabPaths;
  nodes: LabNode[];
  log: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function hostNodes(options: HostNodesOptions): Promise<{ stop(): Promise<void> }> {
  const { paths, log } = options;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(paths.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const client = new RegistryClient({ insecure: true });
  let stopping = false;
  const running = new Map<string, RunningDaemon>();

  const runNode = async (node: LabNode): Promise<void> => {
    const np = nodePaths(paths, node.name);
    const fd = openSync(podLogPath(paths, node.pod), 'a');
    const logger = sourceLogger(createKlog({ now: () => new Date(), pid: process.pid, write: (line) => void writeSync(fd, `${line}\n`) }));
    let failures = 0;
    try {
      while (!stopping) {
        const bootId = bootIdentity(np.cmdline);
        let daemon: RunningDaemon;
        try {
          daemon = await startDaemon({
            nodeName: node.name,
            kubeConfig: kc,
            sysroot: np.sysroot,
            source: registryImageSource(client, { log: (line) => logger.info(line) }),
            osContent: (url) => cacheContentSource(url),
            rebooter: async () => {
              await bootSimulatedNode(np.sysroot, np.cmdline);
              logger.info(`reboot: node ${node.name} boots its default entry (${np.cmdline} rewritten)`);
            },
            readCmdline: simulatedBoot(np.sysroot, np.cmdline),
            bootId: () => bootId,
            logger,
            metricsListen: '',
          });
        } catch (e) {
          failures++;
          log(`${node.name}: daemon failed to start: ${(e as Error).message}; retrying in ${restartDelayMs(failures)} ms`);
          await sleep(restartDelayMs(failures));
          continue;
        }
        failures = 0;
        running.set(node.name, daemon);
        let asked = false;
        const poll = setInterval(() => {
          if (existsSync(rebootRequestPath(paths, node.name))) {
            rmSync(rebootRequestPath(paths, node.name), { force: true });
            asked = true;
            void daemon.stop();
          }
        }, 500);
        const how = await daemon.done.finally(() => clearInterval(poll));
        running.delete(node.name);
        if (stopping || (how === 'stopped' && !asked)) break;
        log(`${node.name}: rebooting${asked ? ' (reboot requested)' : ''}`);
        // The kubelet's view, reported in order but never holding up the boot (the API server may be down).
        const notReady = reportNodeReady(core, node.name, false, log);
        await bootNode(np.sysroot, np.cmdline, { node: node.name, log });
        void notReady.then(() => reportNodeReady(core, node.name, true, log));
      }
    } finally {
      closeSync(fd);
    }
  };

  const all = options.nodes.map((n) => runNode(n).catch((e: Error) => log(`${n.name}: ${e.message}`)));
  log(`Hosting ${options.nodes.length} node daemons: ${options.nodes.map((n) => n.name).join(', ')}`);
  return {
    async stop() {
      stopping = true;
      await Promise.all([...running.values()].map((d) => d.stop()));
      await Promise.all(all);
      await client.close();
    },
  };
}
