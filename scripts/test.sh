#!/usr/bin/env bash
# The test command (README "Test"): builds the offline solution filter, runs every test project
# against real redis-server / swtpm processes the tests start themselves, and ends with one line
# "N passed, N failed[, N skipped]".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

# Debian prerequisites (redis-server, swtpm, tpm2-tools, shellcheck, yamllint, chromium, node):
# installed when we may (root or password-less sudo), else the one command to run is printed.
scripts/prereqs.sh test || exit 1

# The end-to-end suite drives the stack with the official openai npm client too.
if [[ ! -d tests/EndToEnd.Node/node_modules/openai ]]; then
  command -v npm >/dev/null 2>&1 || { echo "The tests need npm (Node.js). Install with: sudo apt-get install -y nodejs npm" >&2; exit 1; }
  npm ci --prefix tests/EndToEnd.Node --no-audit --no-fund >/dev/null || { echo "npm ci in tests/EndToEnd.Node failed" >&2; exit 1; }
fi
if [[ ! -d tests/Interop.Node/node_modules/ehbp ]]; then
  npm ci --prefix tests/Interop.Node --no-audit --no-fund >/dev/null || { echo "npm ci in tests/Interop.Node failed" >&2; exit 1; }
fi
# The docker double of the measured-launch tests reads YAML with the npm `yaml` package.
if [[ ! -d tests/DockerDouble/node_modules/yaml ]]; then
  npm ci --prefix tests/DockerDouble --no-audit --no-fund >/dev/null || { echo "npm ci in tests/DockerDouble failed" >&2; exit 1; }
fi
# The browser module's dependencies (pkijs, asn1js) and its test tools (esbuild, playwright-core
# driving Debian's /usr/bin/chromium headless).
if [[ ! -f clients/browser/node_modules/.package-lock.json || clients/browser/package-lock.json -nt clients/browser/node_modules/.package-lock.json ]]; then
  command -v npm >/dev/null 2>&1 || { echo "The tests need npm (Node.js). Install with: sudo apt-get install -y nodejs npm" >&2; exit 1; }
  npm ci --prefix clients/browser --no-audit --no-fund >/dev/null || { echo "npm ci in clients/browser failed" >&2; exit 1; }
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# Build everything first: the end-to-end suite runs the services' binaries as processes, and
# `dotnet test` alone would only build each test project's own references.
if dotnet build TeeAspire.Offline.slnf -c Release --nologo -v quiet; then
  dotnet test TeeAspire.Offline.slnf -c Release --no-build --nologo \
    --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@"
  status=$?
else
  echo "The build failed." >&2
  status=1
fi

passed=0 failed=0 skipped=0
for trx in "$results"/*.trx; do
  [[ -e $trx ]] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
# The browser module's tests (node's test runner, WebCrypto).
if command -v node >/dev/null 2>&1; then
  node_out=$(node --test clients/browser/test/ 2>&1)
  node_status=$?
  printf '%s\n' "$node_out" | grep -E '^(not )?ok |^# (pass|fail)' || true
  node_pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' <<<"$node_out")
  node_fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' <<<"$node_out")
  passed=$((passed + ${node_pass:-0}))
  failed=$((failed + ${node_fail:-0}))
  if ((node_status != 0 && ${node_fail:-0} == 0)); then failed=$((failed + 1)); fi
else
  echo "node is not installed: the browser module's tests did not run (install nodejs)" >&2
  failed=$((failed + 1))
fi

if ((status != 0 && failed == 0)); then
  # The build or a test host failed before any result was written: count it as a failure.
  failed=1
fi

if ((skipped)); then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
((failed == 0 && passed > 0))
