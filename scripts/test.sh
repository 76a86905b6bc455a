#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, checks the layer rule and
# runs every test with node:test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/tools/check-layers.js
# Each test file runs in its own process; two at a time on this 2-core machine.
node --test --test-concurrency=2 dist/src/ dist/tools/
