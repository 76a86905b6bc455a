import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { consoleFailure, lastLines, parseConsole } from './console.js';

describe('parseConsole()', () => {
  const cases: { name: string; text: string; want: ReturnType<typeof parseConsole> }[] = [
    {
      name: 'reads the init\'s report, after the firmware\'s escape sequences and with CR LF endings',
      text: '\x1bc\x1b[?7l\x1b[2JMCO-BOOT-TEST VERSION=2.0\r\nMCO-BOOT-TEST CMDLINE=root=/dev/vda rw ostree=/ostree/boot.0/os/abc/0\r\n' +
        'MCO-BOOT-TEST OSTREE-BOOTED=yes\r\nMCO-BOOT-TEST ETC=a.conf: value=local\r\nMCO-BOOT-TEST ETC=b.conf: x=1 y=2\r\nMCO-BOOT-TEST DONE=yes\r\n[   59.0] reboot: Power down\r\n',
      want: { version: '2.0', cmdline: 'root=/dev/vda rw ostree=/ostree/boot.0/os/abc/0', ostreeBooted: true, etc: ['a.conf: value=local', 'b.conf: x=1 y=2'], done: true },
    },
    {
      name: 'a boot that stopped before the init: nothing reported, not done',
      text: '[    0.000000] Linux version 6.1.0\n[   19.3] Run /init as init process\n',
      want: { ostreeBooted: false, etc: [], done: false },
    },
    {
      name: 'an init cut off half-way: what it printed, not done',
      text: 'MCO-BOOT-TEST VERSION=1.0\nMCO-BOOT-TEST CMDLINE=quiet\n',
      want: { version: '1.0', cmdline: 'quiet', ostreeBooted: false, etc: [], done: false },
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(parseConsole(c.text), c.want));
});

describe('consoleFailure()', () => {
  const cases: { name: string; text: string; want: string | null }[] = [
    { name: 'a clean boot is no failure', text: 'MCO-BOOT-TEST VERSION=1.0\nreboot: Power down\n', want: null },
    {
      name: 'names a kernel panic with its reason',
      text: '[ 3.1] VFS: Unable to mount root fs\r\n[ 3.2] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n',
      want: 'kernel panic: Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    },
    {
      name: 'the initramfs\'s systemd emergency shell',
      text: '[FAILED] Failed to start ostree-prepare-root.service\nYou are in emergency mode. After logging in, type "journalctl -xb"\n',
      want: 'emergency shell: You are in emergency mode',
    },
    {
      name: 'sulogin of a locked root account',
      text: 'Cannot open access to console, the root account is locked.\n',
      want: 'emergency shell: Cannot open access to console, the root account is locked',
    },
    {
      name: 'dracut\'s emergency shell',
      text: 'Generating "/run/initramfs/rdsosreport.txt"\n',
      want: 'dracut emergency shell: Generating "/run/initramfs/rdsosreport.txt"',
    },
  ];
  for (const c of cases) test(c.name, () => assert.equal(consoleFailure(c.text), c.want));
});

test('lastLines() keeps the last lines, without escape sequences or carriage returns', () => {
  const text = 'one\r\n\x1b[0;32m  OK  \x1b[0m] two\r\nthree\r\n\r\n';
  assert.equal(lastLines(text, 2), '  OK  ] two\nthree');
  assert.equal(lastLines(text), 'one\n  OK  ] two\nthree');
});
