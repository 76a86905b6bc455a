import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deployKargs, type DeployKargsEdit } from './deploy-kargs.js';

const MERGE = ['root=LABEL=MOO', 'quiet', 'APPENDARG=A', 'APPENDARG=B'];

const cases: { name: string; merge: string[] | null; edit: DeployKargsEdit; want: string[] | undefined | RegExp }[] = [
  { name: 'no option: the merge deployment is inherited as it is', merge: MERGE, edit: {}, want: undefined },
  { name: '--karg of a new key is appended to the inherited ones', merge: MERGE, edit: { replace: ['FOO=BAR'] }, want: [...MERGE, 'FOO=BAR'] },
  { name: '--karg replaces every value of its key where the first stood', merge: MERGE, edit: { replace: ['APPENDARG=C'] }, want: ['root=LABEL=MOO', 'quiet', 'APPENDARG=C'] },
  { name: '--karg without a merge deployment starts empty', merge: null, edit: { replace: ['root=x', 'quiet'] }, want: ['root=x', 'quiet'] },
  { name: '--karg-append keeps earlier values of the key, in order', merge: MERGE, edit: { append: ['APPENDARG=C', 'quiet'] }, want: [...MERGE, 'APPENDARG=C', 'quiet'] },
  { name: '--karg-delete KEY of a single-valued key', merge: MERGE, edit: { delete: 'quiet' }, want: ['root=LABEL=MOO', 'APPENDARG=A', 'APPENDARG=B'] },
  { name: '--karg-delete KEY=VALUE picks one of several values', merge: MERGE, edit: { delete: 'APPENDARG=A' }, want: ['root=LABEL=MOO', 'quiet', 'APPENDARG=B'] },
  { name: '--karg-delete KEY of a multi-valued key is refused', merge: MERGE, edit: { delete: 'APPENDARG' }, want: /^Multiple values for key 'APPENDARG' found$/ },
  { name: '--karg-delete of an absent key is refused', merge: MERGE, edit: { delete: 'nosuch' }, want: /^No key 'nosuch' found$/ },
  { name: '--karg-delete of a wrong value is refused', merge: MERGE, edit: { delete: 'root=LABEL=BAA' }, want: /^No karg 'root=LABEL=BAA' found$/ },
  { name: '--karg-delete of a wrong value among several is refused', merge: MERGE, edit: { delete: 'APPENDARG=Z' }, want: /^No karg 'APPENDARG=Z' found$/ },
  { name: '--karg-none drops the inherited ones', merge: MERGE, edit: { none: true, replace: ['root=y'] }, want: ['root=y'] },
  { name: '--karg-none alone: no arguments at all', merge: MERGE, edit: { none: true }, want: [] },
  {
    name: '--karg-proc-cmdline starts from the booted command line, without BOOT_IMAGE=, initrd= and its ostree=',
    merge: MERGE,
    edit: { procCmdline: 'BOOT_IMAGE=/vmlinuz initrd=/i.img ostree=/ostree/boot.0/os/c/0 console=ttyS0 -- rest\n', append: ['x=1'] },
    want: ['console=ttyS0', '--', 'rest', 'x=1'],
  },
  { name: 'the merge deployment\'s order survives every edit together', merge: MERGE, edit: { replace: ['root=LABEL=BAA'], append: ['FOO=T'], delete: 'APPENDARG=B' }, want: ['root=LABEL=BAA', 'quiet', 'APPENDARG=A', 'FOO=T'] },
];

for (const c of cases) {
  test(`deployKargs: ${c.name}`, () => {
    if (c.want instanceof RegExp) assert.throws(() => deployKargs(c.merge, c.edit), { name: 'SysrootError', message: c.want });
    else assert.deepEqual(deployKargs(c.merge, c.edit), c.want);
  });
}
