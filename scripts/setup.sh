#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, skipping what is already there:
# the real peer tools the tests compare against (Debian packages) and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: command (or file, or glob of files) -> package. The tests drive these real
# tools; they are never mocked.
declare -A PACKAGES=(
  [ostree]=ostree
  [getfattr]=attr
  [setcap]=libcap2-bin
  [debootstrap]=debootstrap
  [/usr/bin/time]=time
  [skopeo]=skopeo
  [docker-registry]=docker-registry
  [zstd]=zstd
  [python3]=python3
  # Debian's kubernetes-client and a machine's own kubectl both own /usr/bin/kubectl: only
  # when there is none.
  [kubectl]=kubernetes-client
  # The real boots (src/lab/boot-test): a kernel, an initramfs with ostree-prepare-root, a VM.
  # Installing the kernel package runs its initramfs hook (dracut, here): a minute or more.
  [qemu-system-x86_64]=qemu-system-x86
  ['/boot/vmlinuz-*']=linux-image-cloud-amd64
  [dracut]=dracut
  [/usr/lib/dracut/modules.d/98ostree]=ostree-boot
  # busybox (dynamic) also installs /bin/busybox: ask dpkg for the static one.
  [pkg:busybox-static]=busybox-static
  [mkfs.ext4]=e2fsprogs
  # libostree's own shell tests, run with `mco ostree` as `ostree` (tools/libostree-suite.test.ts).
  [/usr/libexec/installed-tests/libostree/libtest.sh]=ostree-tests
)
# A key is there when it is a command on the PATH, a file or a glob matching one, or pkg:NAME
# an installed package.
have() {
  case "$1" in
    pkg:*) dpkg-query -W -f='${Status}' "${1#pkg:}" 2>/dev/null | grep -q 'ok installed' ;;
    *'*'*) compgen -G "$1" >/dev/null ;;
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}
missing=()
for cmd in "${!PACKAGES[@]}"; do
  have "$cmd" || missing+=("${PACKAGES[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root or install them first" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
