#!/usr/bin/env bash
# The README's main command: install and build if needed, then run the main demo (the seed's pivot).
# (Becomes `mco lab up` once the cluster lab exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/src/cli/mco.js demo pivot "$@"
