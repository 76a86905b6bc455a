#!/usr/bin/env bash
# `npm run bench [-- [ostree|image|pivot|apiserver|controllers|lab]… [OPTIONS]]`: each benchmark runs our code and the
# real tool it stands in for, in the same process tree, and prints their ratio:
#   ostree     commit/checkout vs the ostree CLI; admin deploy vs ostree admin deploy
#   pull       cold HTTP pull of a whole commit vs ostree pull, from the same trivial-httpd
#   image      pull + extract from a docker-registry vs skopeo copy + GNU tar
#   pivot      machine-config-daemon pivot vs the seed's flow with skopeo, tar and ostree
#   apiserver  2,000 watches under a writer: writes/s, get latency, event lag, memory
#   controllers  2,000 fake nodes in 4 pools: ConfigMap patch → every desiredConfig set, controller CPU per node transition
#   lab        mco lab up and a rollout at 5 and 203 nodes: times, per-node time, peak memory, controllers' CPU share
# With no name, all seven run. OPTIONS (--quick, --json, --reps=N…) go to each benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
# setup.sh prints progress on stdout; keep stdout for the benchmarks' own tables or JSON.
bash scripts/setup.sh >&2
names=()
while [ $# -gt 0 ] && [[ "$1" != -* ]]; do names+=("$1"); shift; done
[ ${#names[@]} -gt 0 ] || names=(ostree pull image pivot apiserver controllers lab)
for name in "${names[@]}"; do
  case "$name" in
    ostree|pull|image|pivot|apiserver|controllers|lab) node "dist/bench/$name.js" "$@" ;;
    *) echo "bench: unknown benchmark '$name' (ostree, pull, image, pivot, apiserver, controllers, lab)" >&2; exit 2 ;;
  esac
done
