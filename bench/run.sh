#!/usr/bin/env bash
# Runs every benchmark and prints its table; results are saved under bench/results/.
# Needs root (bpf(2)). Set-up is the project's own, so this works on a fresh machine too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# wrk, iperf3, nginx, Prometheus, the real nodes: what only tests and benchmarks use.
bash scripts/setup-tests.sh
make -s -C bench/bpf
npx tsc -p tsconfig.bench.json
# The control-plane benchmark hosts 98 hollow agents in this process: about 5 GiB of heap.
node --max-old-space-size=12288 dist/bench/run.js "$@"
