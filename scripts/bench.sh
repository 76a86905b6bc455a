#!/usr/bin/env bash
# `npm run bench`: our `mco ostree` against the real ostree (commit and checkout, archive and
# bare, on a generated tree and a Debian rootfs; admin deploy into a sysroot, a first deploy and
# an upgrade). Arguments go to the bench: --quick, --json, --ops=deploy, …
set -euo pipefail
cd "$(dirname "$0")/.."
# setup.sh prints progress on stdout; keep stdout for the bench's own table or JSON.
bash scripts/setup.sh >&2
exec node dist/bench/ostree.js "$@"
