/** `mco lab` refusing bad input: one clear line each, and nothing of an existing lab touched. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLabState } from '../../lab/lab.js';
import { labPaths, writeSupervisor } from '../../lab/layout.js';

const MCO_JS = fileURLToPath(new URL('../mco.js', import.meta.url));

function mco(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MCO_JS, 'lab', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A snapshot of every file under `dir`: path → bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.set(join(entry.parentPath, entry.name), fs.readFileSync(join(entry.parentPath, entry.name), 'base64'));
  }
  return out;
}

describe('mco lab with bad input', () => {
  const root = fs.mkdtempSync(join(tmpdir(), 'mco-lab-cli-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('refuses to make a lab in a directory holding something else, and leaves it alone', () => {
    const dir = join(root, 'other');
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    const r = mco('up', '--dir', dir);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `error: ${dir} holds something other than a lab (notes.txt); choose another --dir\n`);
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
  });

  it('refuses a port in use, naming it, and creates nothing', async (t) => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const dir = join(root, 'busy');
    const r = mco('up', '--dir', dir, '--api-port', String(port));
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `error: Port 127.0.0.1:${port} (for the API server) is in use by another process; stop it, or create the lab in another --dir with another port\n`);
    assert.equal(fs.existsSync(dir), false);
  });

  it('refuses a second up on a running lab, touching nothing', async () => {
    const dir = join(root, 'running');
    const paths = labPaths(dir);
    await createLabState(paths, { masters: 1, workers: 1 });
    // This test process stands in for the running supervisor: a live pid.
    writeSupervisor(paths, { pid: process.pid, control: 'http://127.0.0.1:1', phase: 'ready', message: 'Lab ready', children: [] });
    const before = snapshot(dir);
    const r = mco('up', '--dir', dir);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `error: A lab is already running in ${paths.dir} (supervisor pid ${process.pid}); see mco lab status, or stop it with mco lab down\n`);
    assert.deepEqual(snapshot(dir), before);
  });

  it('gives a new lab ports outside the kernel\'s ephemeral range, which outgoing connections take their local ports from', async () => {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const state = await createLabState(labPaths(join(root, 'ports')), { masters: 1, workers: 1 });
    for (const port of [state.apiPort, state.registryPort, state.osContentPort!]) assert.ok(port >= 10_000 && port < low!, `port ${port} is below ${low}`);
    assert.equal(new Set([state.apiPort, state.registryPort, state.osContentPort]).size, 3);
  });

  it('refuses to reshape an existing lab', async () => {
    const dir = join(root, 'shaped');
    await createLabState(labPaths(dir), { masters: 3, workers: 2 });
    const r = mco('up', '--dir', dir, '--workers', '5');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: The lab in .* has 3 masters and 2 workers; --masters and --workers only shape a new lab .*\n$/);
  });

  it('refuses ssh to a node the lab does not have, listing the ones it has', async () => {
    const dir = join(root, 'ssh');
    await createLabState(labPaths(dir), { masters: 1, workers: 2 });
    const r = mco('ssh', '--dir', dir, 'worker-7', '--', 'true');
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `error: No node worker-7 in the lab in ${labPaths(dir).dir} (nodes: master-0, worker-0, worker-1)\n`);
  });

  it('says there is no lab where there is none', () => {
    const dir = join(root, 'none');
    const r = mco('kubeconfig', '--dir', dir);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `error: No lab in ${dir}: start one with mco lab up --dir ${dir}\n`);
    assert.equal(mco('down', '--dir', dir).stdout, `No lab is running in ${dir}\n`);
  });
});
