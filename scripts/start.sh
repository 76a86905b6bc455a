#!/usr/bin/env bash
# The README's main command: install and build if needed, start the cluster lab (`mco lab up`:
# API server, registry, operator, controller, 3 masters and 2 workers on this machine), then
# play the seed's story against it (`mco lab demo`). The lab keeps running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/src/cli/mco.js lab up "$@"
node dist/src/cli/mco.js lab demo
cat <<'MSG'

The lab is still running. Try:
  export KUBECONFIG=$(npx mco lab kubeconfig)
  kubectl get mcp; kubectl get nodes; kubectl get mc
  npx mco lab status --watch
  npx mco lab ssh worker-0          # a shell on the node: rpm-ostree status, ostree admin status, reboot
Stop it with:  npx mco lab down     (npx mco lab up resumes the same cluster; rm -rf .lab forgets it)
The smaller single-node demo: npx mco demo pivot
MSG
