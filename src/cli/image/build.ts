/** `mco image build`: an image from directories, or machine-os-content from an OSTree commit, into an OCI layout or a registry. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, buildMachineOsContent, type LayerInput } from '../../image/build.js';
import { parseOciLayoutReference } from '../../image/oci-layout.js';
import { pushLayout } from '../../image/push.js';
import { parseImageReference } from '../../image/reference.js';
import { str, strs, UsageError, type Parsed } from '../args.js';
import type { Command, Context } from '../command.js';
import { clientFromFlags, quietOption, registryOptions, withClient } from './registry-flags.js';

export const command: Command = {
  summary: 'Build an image from directories, or a machine-os-content image from an OSTree commit; prints the manifest digest',
  usage: '[OPTION…] (--from DIR[:PREFIX]… | --from-commit REPO:REF|CHECKSUM) --to oci:DIR[:REF]|IMAGE',
  options: {
    from: { type: 'string', multiple: true, description: 'A layer: the contents of DIR, placed under PREFIX (default /)', argument: 'DIR[:PREFIX]' },
    'from-commit': { type: 'string', description: 'machine-os-content of this commit: an archive repo at /srv/repo, its labels and /pkglist.txt', argument: 'REPO:REF' },
    label: { type: 'string', multiple: true, description: 'Add a label to the image config', argument: 'KEY=VALUE' },
    to: { type: 'string', description: 'Where the image goes: an OCI layout (oci:DIR[:REF]) or a registry image', argument: 'DEST' },
    created: { type: 'string', description: 'Creation time and file mtimes, ISO 8601 (default: $SOURCE_DATE_EPOCH, the commit\'s time, else the epoch)', argument: 'TIME' },
    ...quietOption,
    ...registryOptions,
  },
  async run(args, ctx) {
    const to = str(args, 'to');
    if (!to) throw new UsageError('--to must name where the image goes: oci:DIR[:REF] or a registry image');
    const froms = strs(args, 'from');
    const fromCommit = str(args, 'from-commit');
    if (froms.length === 0 && !fromCommit) throw new UsageError('give --from DIR[:PREFIX] (one per layer) or --from-commit REPO:REF');
    if (froms.length > 0 && fromCommit) throw new UsageError('--from and --from-commit cannot be combined');
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const labels = parseLabels(strs(args, 'label'));
    const created = parseCreated(str(args, 'created'), ctx.env['SOURCE_DATE_EPOCH']);

    const build = (layoutDir: string, refName: string | undefined): Promise<{ digest: string }> => {
      if (fromCommit) {
        const colon = fromCommit.indexOf(':');
        if (colon <= 0 || colon === fromCommit.length - 1) throw new UsageError(`--from-commit "${fromCommit}": expected REPO:REF or REPO:CHECKSUM`);
        return buildMachineOsContent({ repo: fromCommit.slice(0, colon), rev: fromCommit.slice(colon + 1), layoutDir, refName, labels, created });
      }
      return buildImage({ layoutDir, refName, layers: froms.map(parseFrom), labels, created });
    };

    if (to.startsWith('oci:')) {
      const { dir, refName } = parseOciLayoutReference(to);
      ctx.output.out(`${(await build(dir, refName)).digest}\n`);
      return;
    }
    ctx.output.out(`${await buildAndPush(args, ctx, to, build)}\n`);
  },
};

/** Builds into a private layout, then pushes it as `mco image push` does; the layout is removed either way. */
async function buildAndPush(args: Parsed, ctx: Context, to: string, build: (dir: string, ref: string | undefined) => Promise<unknown>): Promise<string> {
  const target = parseImageReference(to);
  const dir = await mkdtemp(join(tmpdir(), 'mco-image-build-'));
  try {
    await build(dir, 'build');
    const client = clientFromFlags(args, ctx, { progress: true });
    return (await withClient(client, () => pushLayout(client, dir, 'build', target))).digest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `DIR` or `DIR:/PREFIX` (the prefix is absolute, so a colon inside DIR stays DIR's). */
function parseFrom(text: string): LayerInput {
  const m = /^(.+):(\/.*)$/.exec(text);
  return m ? { dir: m[1]!, prefix: m[2]! } : { dir: text };
}

function parseLabels(items: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const kv of items) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label "${kv}": expected KEY=VALUE`);
    labels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return labels;
}

function parseCreated(flagValue: string | undefined, sourceDateEpoch: string | undefined): Date | undefined {
  if (flagValue !== undefined) {
    const d = new Date(flagValue);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--created "${flagValue}": expected an ISO 8601 time such as 2021-01-19T13:45:40Z`);
    return d;
  }
  if (sourceDateEpoch !== undefined && sourceDateEpoch !== '') {
    if (!/^\d+$/.test(sourceDateEpoch)) throw new UsageError(`SOURCE_DATE_EPOCH "${sourceDateEpoch}" is not a number of seconds`);
    return new Date(Number(sourceDateEpoch) * 1000);
  }
  return undefined;
}
