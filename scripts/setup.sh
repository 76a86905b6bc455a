#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, skipping what is already there:
# the real peer tools the tests compare against (Debian packages) and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: command -> package. The tests drive these real tools; they are never mocked.
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
)
missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
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
