/** `mco host status [--json] [-v]`: `rpm-ostree status`. */
import { join } from 'node:path';
import { Repo } from '../../ostree/repo.js';
import { formatHostStatus, hostStatusJson, hostStatusModel } from '../../sysroot/host-status.js';
import { loadSysroot } from '../../sysroot/sysroot.js';
import { flag } from '../args.js';
import type { Command } from '../command.js';
import { cmdlineReader, sysrootOf } from '../sysroot-args.js';

export const command: Command = {
  summary: 'Get the version of the booted system',
  usage: '[--sysroot=PATH] [--json] [-v]',
  options: {
    json: { type: 'boolean', description: 'Output JSON' },
    verbose: { type: 'boolean', short: 'v', description: 'Print additional fields (e.g. StateRoot); implies -a' },
  },
  async run(args, ctx) {
    const sysroot = sysrootOf(args);
    const readCmdline = cmdlineReader(sysroot, ctx);
    const state = await loadSysroot(sysroot, readCmdline ? { readCmdline } : {});
    const model = await hostStatusModel(state, await Repo.open(join(sysroot, 'ostree', 'repo')));
    if (flag(args, 'json')) {
      ctx.output.out(`${hostStatusJson(model)}\n`);
      return;
    }
    // rpm-ostree picks its glyphs from the locale: UTF-8 unless told otherwise.
    const locale = ctx.env['LC_ALL'] || ctx.env['LC_CTYPE'] || ctx.env['LANG'] || 'C.UTF-8';
    ctx.output.out(formatHostStatus(model, { verbose: flag(args, 'verbose'), glyphs: /utf-?8/i.test(locale) ? 'utf8' : 'ascii' }));
  },
};
