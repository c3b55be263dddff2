#!/usr/bin/env bash
# The test command: set-up, static checks, then every test layer (unit, privileged, cluster).
# Extra arguments go to jest, e.g. `npm test -- --selectProjects unit`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/setup-tests.sh

printf '\033[1m==> typecheck and lint\033[0m\n' >&2
npx tsc -p tsconfig.json --noEmit
npx tsc -p libbpfjs/tsconfig.json --noEmit
npx eslint .

printf '\033[1m==> tests\033[0m\n' >&2
# CI meets what a user's first run meets: nothing this machine read before is cached, so every
# wait in the suites is proven against cold reads (node_modules, the VM's 9p root, the binaries).
if [ "${CI:-}" = true ] && [ -w /proc/sys/vm/drop_caches ]; then
  sync
  echo 3 > /proc/sys/vm/drop_caches
  echo "test: page cache dropped (CI), the suites start cold" >&2
fi
report="$(mktemp /tmp/weir-jest-XXXXXX.json)"
trap 'rm -f "$report"' EXIT
set +e
# Test files run one at a time: privileged suites share the kernel's global state (cgroups,
# bpffs) and cluster suites each start an API server on a 2-core machine. --forceExit: once the
# results are written the run ends, even if a failed suite's teardown left a handle open (a CI run
# that had finished its tests was otherwise held until the job's own limit killed it).
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --runInBand --forceExit --json --outputFile="$report" "$@"
status=$?
set -e
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' "$report" || true
exit $status
