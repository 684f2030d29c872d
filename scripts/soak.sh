#!/usr/bin/env bash
# Fault and load suites on the real processes (the local stack with the Ollama double and swtpm):
#   1. redis-server killed under streaming load, then brought back
#   2. the Ollama backend killed mid-stream, then brought back
#   3. the worker restarted while the gateway is under load
#   4. 200 concurrent streaming clients for 60 s (--quick: 20 s): every stream complete, memory flat
# Every request must end with a complete answer or a clear error within its timeout — no hang.
# Writes bench/results/soak-<date>.md and .json; exits non-zero if a check fails.
#   scripts/soak.sh [--quick]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0; [[ ${1:-} == --quick ]] && QUICK=1
LOAD_SECS=$(( QUICK ? 20 : 60 ))
WORK=$ROOT/bench/work/soak
RUN=$WORK/run
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$WORK" "$ROOT/bench/results"
# A master key as the gateway requires (sk-tee-master- + 32 random bytes), fresh for each run.
TEE_MASTER_KEY=sk-tee-master-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export TEE_RUN_DIR=$RUN TEE_MASTER_KEY TEE_GATEWAY_PORT=28500 TEE_ADMIN_PORT=28508 TEE_WORKER_PORT=28501 \
  TEE_ATTESTATION_PORT=28502 TEE_REDIS_PORT=28503 TEE_FAKE_OLLAMA_PORT=28504 TEE_SWTPM_PORT=28506 \
  Double__TokensPerSecond=50 Double__AnswerTokens=24 OLLAMA_NUM_PARALLEL=512 Double__MaxQueue=4096 Inference__DefaultSlots=512 \
  Inference__QueueLimit=100000 RateLimit__PublicRpmPerIp=100000000 Logging__LogLevel__Default=Warning
STACK=$ROOT/scripts/local-stack.sh
trap '"$STACK" down >/dev/null 2>&1 || true' EXIT

dotnet build "$ROOT/TeeAspire.Offline.slnf" -c Release -nologo -v quiet >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
TEE_SKIP_BUILD=1 "$STACK" up --fake-ollama --swtpm >"$WORK/stack.log" 2>&1 || { cat "$WORK/stack.log"; exit 1; }
GW=http://127.0.0.1:28500
ADMIN=http://127.0.0.1:28508 # /admin/* is on its own listener, never the public port (swtpm takes 28506-28507)
CREATED=$(curl -fsS "$ADMIN/admin/keys" -H "Authorization: Bearer $TEE_MASTER_KEY" -H 'content-type: application/json' \
  -d '{"name":"soak","rpm":100000000,"tpm":100000000,"max_parallel":100000}')
KEY=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])' <<<"$CREATED")
KEY_ID=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])' <<<"$CREATED")
LOAD=(timeout 300 dotnet "$ROOT/bench/LoadClient/bin/Release/net10.0/LoadClient.dll")
rss() { awk '/VmRSS/ {print $2}' "/proc/$(cat "$RUN/pids/$1.pid")/status"; }
healthy() { for _ in $(seq 1 150); do curl -fsS -o /dev/null "$GW/health" 2>/dev/null && return 0; sleep 0.2; done; return 1; }

fault() { # name, seconds, action-after-seconds, action…
  local name=$1 secs=$2 after=$3; shift 3
  echo "soak: $name…"
  "${LOAD[@]}" stream url=$GW key=$KEY concurrency=40 seconds=$secs >"$WORK/$name.json" &
  local load=$!
  sleep "$after"
  "$@"
  wait $load || { echo "soak: the load client for $name failed or hung" >&2; return 1; }
  healthy || { echo "soak: not healthy after $name" >&2; return 1; }
}

fault redis-killed 15 4 bash -c "kill -KILL \$(cat $RUN/pids/redis.pid); sleep 4; $STACK restart redis"
fault backend-killed 15 4 bash -c "$STACK restart fake-ollama"
fault worker-restarted 15 4 bash -c "$STACK restart worker"

echo "soak: ${LOAD_SECS}s with 200 concurrent streams…"
"${LOAD[@]}" stream url=$GW key=$KEY concurrency=200 seconds=$LOAD_SECS >"$WORK/load.json" &
LOADPID=$!
samples=()
for _ in $(seq 1 $(( LOAD_SECS / 5 ))); do sleep 5; samples+=("$(rss gateway):$(rss worker)"); done
wait $LOADPID
sleep 2 # usage is recorded after each response ends
curl -fsS "$ADMIN/admin/keys/$KEY_ID" -H "Authorization: Bearer $TEE_MASTER_KEY" >"$WORK/usage.json"

python3 - "$WORK" "$ROOT/bench/results" "$STAMP" "$LOAD_SECS" "${samples[@]}" <<'PY'
import json, os, sys
work, results, stamp, secs, *samples = sys.argv[1:]
L = lambda n: json.load(open(os.path.join(work, n + ".json")))
faults = {n: L(n) for n in ("redis-killed", "backend-killed", "worker-restarted")}
load = L("load")
rss = [tuple(int(x) / 1024 for x in s.split(":")) for s in samples]
warm = rss[1] if len(rss) > 1 else rss[0]
last = rss[-1]
# A reset: the client's connection broke (an exception: IOException, HttpRequestException…) instead
# of ending with an OpenAI error event or a status; the load client keys statuses by number.
resets = lambda r: sum(n for k, n in r["errors"].items() if not k.isdigit())
checks = []
for name, r in faults.items():
    # During a fault a request may end with a clear error (an error event or a 5xx), never hang
    # and never in a reset connection: the load client returned, and the stream count is whole.
    checks.append((f"{name}: streams completed after the fault", r["completed"] > 0))
    checks.append((f"{name}: no connection reset ({resets(r)})", resets(r) == 0))
checks.append(("load: every stream complete", load["incomplete"] == 0 and not load["errors"]))
checks.append(("load: streams served", load["completed"] > 0))
growth = max(last[0] - warm[0], last[1] - warm[1])
checks.append((f"load: memory flat after warm-up (growth {growth:.1f} MB ≤ 50 MB)", growth <= 50))
# Accounting: every stream that reached a backend is counted in the key's usage — completed ones
# always; cut ones too (with the tokens generated so far); none is counted twice.
usage = json.load(open(os.path.join(work, "usage.json")))["usage"]
completed = sum(r["completed"] for r in faults.values()) + load["completed"]
cut = sum(r["incomplete"] + resets(r) for r in faults.values())
checks.append((f"accounting: usage counts {usage['requests']} requests for {completed} completed + ≤ {cut} cut streams",
               completed <= usage["requests"] <= completed + cut))
out = {"date": stamp, "faults": faults, "load": load, "usage": usage, "rss_mb_samples_gateway_worker": rss, "checks": {c: ok for c, ok in checks}}
json.dump(out, open(os.path.join(results, f"soak-{stamp}.json"), "w"), indent=2)
lines = [f"# Soak {stamp}", "", "| check | result |", "| --- | --- |"] + [f"| {c} | {'pass' if ok else '**FAIL**'} |" for c, ok in checks]
lines += ["", "| suite | completed | incomplete (ended with a clear error event) | resets | errors (status or exception) |", "| --- | --- | --- | --- | --- |"]
lines += [f"| {n} | {r['completed']} | {r['incomplete']} | {resets(r)} | {r['errors']} |" for n, r in list(faults.items()) + [("200 streams × " + secs + " s", load)]]
lines += ["", "RSS MB (gateway, worker) every 5 s: " + ", ".join(f"{g:.0f}/{w:.0f}" for g, w in rss)]
open(os.path.join(results, f"soak-{stamp}.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
