/**
 * Which of libostree's installed tests (Debian's `ostree-tests`, under
 * /usr/libexec/installed-tests/libostree/) `mco ostree` must pass whole, and which features those
 * tests use that are deliberately out of scope. libostree-suite.test.ts runs every listed script
 * with `mco ostree` as `ostree`; add a script here once it passes.
 */

/** Scripts that must pass whole (every TAP `ok`, exit 0) with `mco ostree` as `ostree`. */
export const LIBOSTREE_SCRIPTS: readonly string[] = [
  'test-local-pull.sh',
  'test-help.sh',
  'test-local-pull-depth.sh',
  'test-corruption.sh',
  'test-fsck-delete.sh',
  'test-commit-timestamp.sh',
  'test-refs.sh',
  'test-pull-untrusted.sh',
  'test-auto-summary.sh',
  'test-pull-commit-only.sh',
  'test-pull-depth.sh',
  'test-pull-resume.sh',
  'test-pull-corruption.sh',
  'test-reset-nonlinear.sh',
  'test-config.sh',
  'test-basic-root.sh',
  'test-archivez.sh',
  'test-admin-deploy-clean.sh',
  'test-admin-deploy-karg.sh',
  'test-admin-deploy-nomerge.sh',
  'test-admin-deploy-whiteouts.sh',
  'test-admin-instutil-set-kargs.sh',
  'test-admin-kargs.sh',
  'test-admin-deploy-2.sh',
  'test-admin-deploy-etcmerge-cornercases.sh',
  'test-admin-upgrade-unconfigured.sh',
  'test-admin-pull-deploy-commit.sh',
  'test-admin-upgrade-endoflife.sh',
  'test-admin-pull-deploy-split.sh',
  'test-admin-deploy-switch.sh',
];

/** Features of libostree the installed tests use that we do not build, and why. */
export const OUT_OF_SCOPE: readonly { feature: string; reason: string }[] = [
  { feature: 'GPG signing and verification (gpg-verify, --gpg-sign, test-*gpg*.sh)', reason: 'nodes verify OS images by digest through the container registry, not by commit signatures' },
  { feature: 'static deltas (static-delta, test-delta*.sh)', reason: 'updates come as container images and object-level pulls; deltas only save bandwidth' },
  { feature: 'summary signing (summary --gpg-sign/--sign)', reason: 'follows from the above: no signature verification' },
  { feature: 'freezing the filesystem of /boot after a swap (OSTREE_SYSROOT_DEBUG=test-fifreeze: the last test of admin-test.sh, so test-admin-deploy-{syslinux,uboot,grub2,none}.sh)', reason: 'FIFREEZE on a shared machine freezes whatever filesystem /boot is on; our swap syncs with syncfs' },
  { feature: 'syslinux.cfg and uEnv.txt generation (test-admin-deploy-uboot.sh; syslinux.cfg is only cross-checked when written)', reason: 'nodes boot BLS entries (sysroot.bootloader=none, as RHCOS): we write no bootloader configuration of our own' },
  { feature: 'libostree\'s fault-injection hooks (OSTREE_REPO_TEST_ERROR, test-admin-deploy-bootid-gc.sh)', reason: 'our crash harness injects faults through MCO_CRASH_AT instead' },
  {
    feature: 'the OSTREE_REPO_TEST_ERROR=pre-commit fault hook and per-boot tmp/staging-BOOTID-* directories (basic-test.sh\'s "test error pre commit/bootid", so test-basic-user*.sh)',
    reason: 'a libostree-internal test hook: our commits stage each object beside its final name (repo.ts stagingPath), so there is no staging directory to find; bad-input.test.ts covers that a failed commit leaves refs and the repository as they were',
  },
  { feature: 'collection IDs and peer-to-peer finding (--collection-id, refs --collections, find-remotes, create-usb, test-*-collections.sh)', reason: 'OS content reaches nodes from one registry or cache URL; there are no peers or USB sticks to find it on' },
  { feature: 'tar import and export (export, commit --tree=tar=, test-libarchive.sh, test-export.sh)', reason: 'OS images are built and extracted by our image code, layer by layer; --version lists no libarchive, so those scripts skip' },
];
