/**
 * `mco demo pivot`: the seed's single-node section, reproduced on one machine. Two generated
 * OS versions are committed and built into `machine-os-content` images in the embedded
 * registry; a node sysroot is installed on the first; `machine-config-daemon pivot` moves it
 * to the second; a "reboot" boots it; a pivot back rolls it back. `rpm-ostree status` (ours)
 * is printed at each step, and the real `ostree admin status` when it is installed.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { createKlog } from '../api/klog.js';
import { sourceLogger } from '../daemon/log.js';
import { RegistryClient } from '../image/registry-client.js';
import { startRegistryServer } from '../image/registry-server.js';
import { registryImageSource } from '../node/os-image.js';
import { pivot } from '../node/pivot.js';
import { Repo } from '../ostree/repo.js';
import { bootSimulatedNode, simulatedBoot } from '../sysroot/boot.js';
import { formatHostStatus, hostStatusModel } from '../sysroot/host-status.js';
import { loadSysroot } from '../sysroot/sysroot.js';
import { realOstree } from './demo-ostree.js';
import { buildOsImages, extractOsContent, installNode } from './os-images.js';

export interface PivotDemoOptions {
  /** Everything the demo writes goes under here (wiped first). */
  stateDir: string;
  say: (line: string) => void;
}

export async function runPivotDemo(options: PivotDemoOptions): Promise<void> {
  const { stateDir, say } = options;
  await fs.rm(stateDir, { recursive: true, force: true });
  await fs.mkdir(stateDir, { recursive: true });

  // 1. The build side: commits, then machine-os-content images in the registry.
  const registry = await startRegistryServer({ root: join(stateDir, 'registry'), listen: '127.0.0.1:0' });
  const client = new RegistryClient({ insecure: true });
  try {
    say(`Embedded registry listening on ${registry.address}`);
    const images = await buildOsImages({ workDir: stateDir, registry: registry.address, client, say });
    const [imageOld, imageNew] = images.map((i) => i.image) as [string, string];

    // 2. A node installed on the first image, as the installer leaves it.
    const sysroot = join(stateDir, 'node', 'sysroot');
    const source = registryImageSource(client);
    const installDir = join(stateDir, 'install-content');
    await installNode(sysroot, await extractOsContent(source, imageOld, installDir));
    await fs.rm(installDir, { recursive: true, force: true });
    const cmdlineFile = join(stateDir, 'node', 'cmdline');
    const reboot = async (): Promise<void> => {
      await bootSimulatedNode(sysroot, cmdlineFile);
    };
    await reboot();
    say(`\nNode installed on ${images[0]!.version}; it boots with: ${(await fs.readFile(cmdlineFile, 'utf8')).trim()}`);
    const readCmdline = simulatedBoot(sysroot, cmdlineFile);
    const status = async (): Promise<void> => {
      say(`\n[root@worker-0 ~]# rpm-ostree status`);
      const model = await hostStatusModel(await loadSysroot(sysroot, { readCmdline }), await Repo.open(join(sysroot, 'ostree', 'repo')));
      say(formatHostStatus(model, { verbose: false, glyphs: 'utf8' }).trimEnd());
      const real = realOstree();
      if (real) say(`\n$ ostree admin status --sysroot=${sysroot}    # the real libostree agrees\n${real(['admin', 'status', `--sysroot=${sysroot}`]).trimEnd()}`);
    };
    await status();

    // 3. The seed: force-pivot to the new image, reboot, then pivot back.
    const daemon = async (image: string): Promise<void> => {
      say(`\n[root@worker-0 ~]# machine-config-daemon pivot "${image}"`);
      // klog lines with the real time and pid, the source being the module that logged.
      const log = sourceLogger(createKlog({ now: () => new Date(), pid: process.pid, write: say }));
      await pivot(sysroot, image, { source, log: log.info, readCmdline, reboot });
    };
    await daemon(imageNew);
    await status();
    say('\n[root@worker-0 ~]# reboot');
    await reboot();
    await status();
    await daemon(imageOld);
    await status();
    say('\n[root@worker-0 ~]# reboot');
    await reboot();
    await status();
    say(`\nEverything is under ${stateDir}: the registry, the build repo and the node's sysroot.`);
  } finally {
    await client.close();
    await registry.close();
  }
}
