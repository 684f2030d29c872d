#!/usr/bin/env bash
# Benchmark harness: every figure in one run, side by side, on this machine.
#   bench/run.sh --quick   (under 4 minutes)      bench/run.sh   (full: longer windows)
#   bench/run.sh --only c1 (the user-felt figures only: c1 overhead, TTFT, CPU per request, throughput
#                           against the floor, the peer gateway and nginx)
#   BENCH_PORT_BASE=28100 (default): stacks use base, base+100, base+200 (+0…+99 each)
# Starts what it needs on loopback (redis-server, the Ollama double, swtpm, the services in
# Release, two bare .NET hops as our architecture's floor, Portkey's AI gateway as the peer, nginx
# as the plain reverse proxy), drives load from separate processes (wrk and
# bench/LoadClient) and writes bench/results/<date>.md and .json.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=full
ONLY=all
while (($#)); do
  case $1 in
    --quick) MODE=quick ;;
    --only) ONLY=$2; shift ;;
    *) echo "usage: bench/run.sh [--quick] [--only c1]" >&2; exit 2 ;;
  esac
  shift
done
if [[ $MODE == quick ]]; then SECS=5; C1_COUNT=1000; CPU_COUNT=2000; else SECS=20; C1_COUNT=4000; CPU_COUNT=8000; fi
P=${BENCH_PORT_BASE:-28100}
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$ROOT/bench/work
RESULTS=$ROOT/bench/results
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$WORK" "$RESULTS"

# --- prerequisites -----------------------------------------------------------------------------
"$ROOT/scripts/prereqs.sh" bench || exit 1
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

echo "bench: building (Release)…"
dotnet build "$ROOT/TeeAspire.Offline.slnf" -c Release -nologo -v quiet >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
LOAD=(dotnet "$ROOT/bench/LoadClient/bin/Release/net10.0/LoadClient.dll")
DOUBLE_DLL=$ROOT/tests/OllamaDouble/bin/Release/net10.0/OllamaDouble.dll
BAREHOP_DLL=$ROOT/bench/BareHop/bin/Release/net10.0/BareHop.dll
WORKER_DLL=$ROOT/Inference.Worker/bin/Release/net10.0/Inference.Worker.dll

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for run in "$WORK"/run-*; do [[ -d $run ]] && TEE_RUN_DIR=$run "$ROOT/scripts/local-stack.sh" down >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
wait_http() { for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "bench: $1 did not come up" >&2; return 1; }

# A master key as the gateway requires (sk-tee-master- + 32 random bytes), fresh for each run.
MASTER=sk-tee-master-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
stack() { # name, extra env… ; starts the local stack with its own ports and run folder (admin listener on base+8; swtpm takes +6 and +7)
  local name=$1 base=$2; shift 2
  env TEE_RUN_DIR="$WORK/run-$name" TEE_SKIP_BUILD=1 TEE_MASTER_KEY="$MASTER" \
    TEE_GATEWAY_PORT=$((base)) TEE_ADMIN_PORT=$((base + 8)) TEE_WORKER_PORT=$((base + 1)) TEE_ATTESTATION_PORT=$((base + 2)) \
    TEE_REDIS_PORT=$((base + 3)) TEE_FAKE_OLLAMA_PORT=$((base + 4)) TEE_SWTPM_PORT=$((base + 6)) \
    RateLimit__PublicRpmPerIp=100000000 Inference__QueueLimit=100000 Logging__LogLevel__Default=Warning \
    "$@" "$ROOT/scripts/local-stack.sh" up --fake-ollama --swtpm >"$WORK/stack-$name.log" 2>&1 \
    || { cat "$WORK/stack-$name.log"; exit 1; }
}
key() { # gateway port → a key with limits out of the way (asked on that stack's admin listener)
  curl -fsS "http://127.0.0.1:$(($1 + 8))/admin/keys" -H "Authorization: Bearer $MASTER" \
    -H 'content-type: application/json' -d '{"name":"bench","rpm":100000000,"tpm":100000000,"max_parallel":100000}' \
    | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])'
}

# --- A: overhead, throughput, TTFT, limiter, attestation, signing --------------------------------
echo "bench: stack A (instant backend)…"
stack a $P Double__TokensPerSecond=0 Double__AnswerTokens=8 OLLAMA_NUM_PARALLEL=256 Inference__DefaultSlots=256
GW=http://127.0.0.1:$P; DOUBLE=http://127.0.0.1:$((P + 4)); REDIS_A=$((P + 3))
# The attestation report is measured as customers get it: GET /attestation through the gateway
# (the attestation service itself answers only callers with the internal token).
KEY=$(key $P)
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$((P + 4)); keepalive 64; }
  server {
    listen 127.0.0.1:$((P + 90));
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK"
wait_http "http://127.0.0.1:$((P + 90))/api/version"
BODY='{"model":"deepseek-r1","messages":[{"role":"user","content":"benchmark prompt"}]}'
DIRECT_BODY='{"model":"deepseek-r1:1.5b","messages":[{"role":"user","content":"benchmark prompt"}]}'
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("WRK_AUTH")
if auth and #auth > 0 then wrk.headers["Authorization"] = auth end
for name, value in string.gmatch(os.getenv("WRK_HEADERS") or "", "([^:|]+):%s*([^|]+)") do wrk.headers[name] = value end
LUA

# A server that has run a while: tiered JIT (with PGO) recompiles hot methods only after call
# counting starts, well after the first requests; measuring from cold would time tier-0 code.
echo "bench: warm-up (3000 requests, 8 connections)…"
"${LOAD[@]}" fixed url=$GW key=$KEY count=3000 concurrency=8 >"$WORK/warmup.json"
# What a user feels: one request at a time, alternating the double directly and the gateway.
echo "bench: concurrency 1, $C1_COUNT requests each way (non-stream, then time to first token)…"
"${LOAD[@]}" overhead url=$GW key=$KEY direct=$DOUBLE count=$C1_COUNT >"$WORK/c1.json"
"${LOAD[@]}" overhead url=$GW key=$KEY direct=$DOUBLE count=$C1_COUNT stream=true >"$WORK/c1-ttft.json"
echo "bench: sealed (EHBP) vs clear through the gateway, concurrency 1, $C1_COUNT requests each…"
"${LOAD[@]}" sealed url=$GW key=$KEY count=$C1_COUNT >"$WORK/sealed.json"
# CPU per request: utime+stime of gateway, worker, attestation and redis-server over a fixed count.
proc_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$WORK/run-a/pids/$1.pid")/stat"; }
echo "bench: CPU per request ($CPU_COUNT requests, 8 connections)…"
redis-cli -p $REDIS_A config resetstat >/dev/null
declare -A T0
for f in gateway worker attestation redis; do T0[$f]=$(proc_ticks $f); done
"${LOAD[@]}" fixed url=$GW key=$KEY count=$CPU_COUNT concurrency=8 >"$WORK/cpu.json"
TICKS=0; SPLIT=""
for f in gateway worker attestation redis; do d=$(($(proc_ticks $f) - T0[$f])); TICKS=$((TICKS + d)); SPLIT="$SPLIT\"$f\": $d, "; done
redis-cli -p $REDIS_A info commandstats | tr -d '\r' >"$WORK/stack-commandstats.txt"
echo "{\"ticks\": $TICKS, \"by_process\": {${SPLIT%, }}, \"clk_tck\": $(getconf CLK_TCK), \"count\": $CPU_COUNT}" >"$WORK/cpu-ticks.json"
# The floor: two bare .NET hops (Kestrel + YARP's forwarder, nothing else) chained in front of the
# same double — what any two-service .NET path costs on this machine before our own work.
echo "bench: floor: two bare .NET proxy hops in front of the double…"
env BAREHOP_UPSTREAM=$DOUBLE ASPNETCORE_URLS=http://127.0.0.1:$((P + 80)) dotnet "$BAREHOP_DLL" >"$WORK/barehop-1.log" 2>&1 &
HOP1=$!; PIDS+=("$HOP1")
env BAREHOP_UPSTREAM=http://127.0.0.1:$((P + 80)) ASPNETCORE_URLS=http://127.0.0.1:$((P + 81)) dotnet "$BAREHOP_DLL" >"$WORK/barehop-2.log" 2>&1 &
HOP2=$!; PIDS+=("$HOP2")
wait_http "http://127.0.0.1:$((P + 81))/api/version"
"${LOAD[@]}" fixed url=http://127.0.0.1:$((P + 81)) key=none count=3000 concurrency=8 model=deepseek-r1:1.5b >"$WORK/floor-warmup.json"
"${LOAD[@]}" overhead url=http://127.0.0.1:$((P + 81)) key=none direct=$DOUBLE count=$C1_COUNT model=deepseek-r1:1.5b >"$WORK/floor-c1.json"
hop_ticks() { echo $(($(awk '{print $14 + $15}' /proc/$HOP1/stat) + $(awk '{print $14 + $15}' /proc/$HOP2/stat))); }
H0=$(hop_ticks)
"${LOAD[@]}" fixed url=http://127.0.0.1:$((P + 81)) key=none count=$CPU_COUNT concurrency=8 model=deepseek-r1:1.5b >"$WORK/floor-cpu.json"
H1=$(hop_ticks)
echo "{\"ticks\": $((H1 - H0)), \"clk_tck\": $(getconf CLK_TCK), \"count\": $CPU_COUNT}" >"$WORK/floor-cpu-ticks.json"
# The peer: Portkey's open-source AI gateway (npm @portkey-ai/gateway, pinned in bench/peer, a
# bench-only folder — never a product dependency), as a plain OpenAI pass-through to the same
# double: no keys, no limits, no signatures. bench/peer/loopback.mjs makes it listen on 127.0.0.1.
echo "bench: peer: Portkey's AI gateway in front of the double (c1, CPU per request)…"
if [[ ! -f $ROOT/bench/peer/node_modules/@portkey-ai/gateway/build/start-server.js ]]; then
  npm ci --prefix "$ROOT/bench/peer" --no-audit --no-fund >"$WORK/peer-npm.log" 2>&1 || { cat "$WORK/peer-npm.log"; exit 1; }
fi
PEER_URL=http://127.0.0.1:$((P + 85))
(cd "$ROOT/bench/peer" && exec node --import ./loopback.mjs node_modules/@portkey-ai/gateway/build/start-server.js --port=$((P + 85)) --headless) >"$WORK/peer.log" 2>&1 &
PEER=$!; PIDS+=("$PEER")
wait_http "$PEER_URL/"
PEER_HEADERS="x-portkey-provider: openai|x-portkey-custom-host: $DOUBLE/v1"
BENCH_HEADERS=$PEER_HEADERS "${LOAD[@]}" fixed url=$PEER_URL key=none count=3000 concurrency=8 model=deepseek-r1:1.5b >"$WORK/peer-warmup.json"
BENCH_HEADERS=$PEER_HEADERS "${LOAD[@]}" overhead url=$PEER_URL key=none direct=$DOUBLE count=$C1_COUNT model=deepseek-r1:1.5b >"$WORK/peer-c1.json"
peer_ticks() { awk '{print $14 + $15}' /proc/$PEER/stat; }
N0=$(peer_ticks)
BENCH_HEADERS=$PEER_HEADERS "${LOAD[@]}" fixed url=$PEER_URL key=none count=$CPU_COUNT concurrency=8 model=deepseek-r1:1.5b >"$WORK/peer-cpu.json"
N1=$(peer_ticks)
echo "{\"ticks\": $((N1 - N0)), \"clk_tck\": $(getconf CLK_TCK), \"count\": $CPU_COUNT}" >"$WORK/peer-cpu-ticks.json"
echo "bench: throughput (wrk, 32 connections), gateway vs the two bare hops, the peer and nginx…"
WRK_BODY=$BODY WRK_AUTH="Bearer $KEY" wrk -t2 -c32 -d${SECS}s -s "$WORK/post.lua" "$GW/v1/chat/completions" >"$WORK/wrk-gateway.txt"
WRK_BODY=$DIRECT_BODY WRK_AUTH='' wrk -t2 -c32 -d${SECS}s -s "$WORK/post.lua" "http://127.0.0.1:$((P + 90))/v1/chat/completions" >"$WORK/wrk-nginx.txt"
WRK_BODY=$DIRECT_BODY WRK_AUTH='' wrk -t2 -c32 -d${SECS}s -s "$WORK/post.lua" "http://127.0.0.1:$((P + 81))/v1/chat/completions" >"$WORK/wrk-floor.txt"
WRK_BODY=$DIRECT_BODY WRK_AUTH='Bearer none' WRK_HEADERS=$PEER_HEADERS wrk -t2 -c32 -d${SECS}s -s "$WORK/post.lua" "$PEER_URL/v1/chat/completions" >"$WORK/wrk-peer.txt"
kill $HOP1 $HOP2 $PEER 2>/dev/null || true
if [[ $ONLY == all ]]; then
echo "bench: under saturation: latency, 32 concurrent, non-stream; TTFT, 8 streams…"
"${LOAD[@]}" chat url=$DOUBLE path=/v1/chat/completions model=deepseek-r1:1.5b concurrency=32 seconds=$SECS >"$WORK/direct.json"
"${LOAD[@]}" chat url=$GW key=$KEY concurrency=32 seconds=$SECS >"$WORK/gateway.json"
"${LOAD[@]}" stream url=$DOUBLE path=/v1/chat/completions model=deepseek-r1:1.5b concurrency=8 seconds=$SECS >"$WORK/ttft-direct.json"
"${LOAD[@]}" stream url=$GW key=$KEY concurrency=8 seconds=$SECS >"$WORK/ttft-gateway.json"
echo "bench: limiter (its own redis-server, so commandstats count only its decisions)…"
redis-server --port $((P + 99)) --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis-limiter.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p $((P + 99)) ping >/dev/null 2>&1 && break; sleep 0.1; done
"${LOAD[@]}" limiter redis=127.0.0.1:$((P + 99)) seconds=$SECS concurrency=64 >"$WORK/limiter.json"
echo "bench: attestation and signing…"
"${LOAD[@]}" report url=$GW count=$((SECS * 10)) >"$WORK/report.json"
"${LOAD[@]}" sign count=20000 >"$WORK/sign.json"
fi
TEE_RUN_DIR=$WORK/run-a "$ROOT/scripts/local-stack.sh" down >/dev/null
kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"
GW_HWM_KB=0
if [[ $ONLY == all ]]; then

# --- B: gateway memory with 1,000 slow streams ---------------------------------------------------
echo "bench: stack B (1,000 concurrent slow streams)…"
stack b $((P + 100)) Double__TokensPerSecond=4 Double__AnswerTokens=12 OLLAMA_NUM_PARALLEL=2000 Double__MaxQueue=4000 Inference__DefaultSlots=2000
KEY_B=$(key $((P + 100)))
GW_PID=$(cat "$WORK/run-b/pids/gateway.pid")
"${LOAD[@]}" stream url=http://127.0.0.1:$((P + 100)) key=$KEY_B concurrency=1000 seconds=$((SECS + 5)) >"$WORK/streams-1000.json"
GW_HWM_KB=$(awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status")
TEE_RUN_DIR=$WORK/run-b "$ROOT/scripts/local-stack.sh" down >/dev/null

# --- C: scheduler efficiency: 2 backends × 2 slots, saturated ------------------------------------
echo "bench: scheduler (2 backends × 2 slots)…"
for port in $((P + 204)) $((P + 205)); do
  env Double__TokensPerSecond=50 Double__AnswerTokens=40 OLLAMA_NUM_PARALLEL=2 Logging__LogLevel__Default=Warning \
    dotnet "$DOUBLE_DLL" --urls "http://127.0.0.1:$port" >"$WORK/double-$port.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/api/version"
done
# Capacity: the backends alone, exactly as many streams as slots.
"${LOAD[@]}" stream url=http://127.0.0.1:$((P + 204)) path=/v1/chat/completions model=deepseek-r1:1.5b concurrency=2 seconds=$SECS >"$WORK/cap-1.json" &
CAP1=$!
"${LOAD[@]}" stream url=http://127.0.0.1:$((P + 205)) path=/v1/chat/completions model=deepseek-r1:1.5b concurrency=2 seconds=$SECS >"$WORK/cap-2.json"
wait $CAP1
# The worker alone, called as the gateway calls it: with the internal token.
INTERNAL_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
env ASPNETCORE_URLS=http://127.0.0.1:$((P + 201)) Logging__LogLevel__Default=Warning Inference__SendThink=true Attestation__InternalToken="$INTERNAL_TOKEN" \
  Inference__Backends__0__Endpoint=http://127.0.0.1:$((P + 204)) Inference__Backends__0__Slots=2 Inference__Backends__0__Models__0=deepseek-r1:1.5b \
  Inference__Backends__1__Endpoint=http://127.0.0.1:$((P + 205)) Inference__Backends__1__Slots=2 Inference__Backends__1__Models__0=deepseek-r1:1.5b \
  Inference__QueueLimit=10000 dotnet "$WORKER_DLL" >"$WORK/worker-c.log" 2>&1 &
PIDS+=($!)
wait_http http://127.0.0.1:$((P + 201))/health
TEE_INTERNAL_TOKEN=$INTERNAL_TOKEN "${LOAD[@]}" stream url=http://127.0.0.1:$((P + 201)) keyid=bench concurrency=16 seconds=$SECS >"$WORK/scheduler.json"
fi
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- results -------------------------------------------------------------------------------------
python3 - "$WORK" "$RESULTS" "$STAMP" "$MODE" "$GW_HWM_KB" "$ONLY" "$LOADAVG_START" "$LOADAVG_END" <<'PY'
import json, os, re, subprocess, sys
work, results, stamp, mode, hwm, only, load0, load1 = sys.argv[1:9]
full = only == "all"
L = lambda n: json.load(open(os.path.join(work, n)))
def rps(f):
    m = re.search(r"Requests/sec:\s+([\d.]+)", open(os.path.join(work, f)).read())
    return float(m.group(1)) if m else 0.0
def ver(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip() or subprocess.run(cmd, shell=True, capture_output=True, text=True).stderr.strip()
    except Exception: return "?"
def stat_calls(path):
    calls = {}
    for line in open(path):
        m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
        if m: calls[m.group(1)] = int(m.group(2))
    return calls
c1, c1t, cpu_run, ticks, sealed = L("c1.json"), L("c1-ttft.json"), L("cpu.json"), L("cpu-ticks.json"), L("sealed.json")
floor_c1, floor_ticks = L("floor-c1.json"), L("floor-cpu-ticks.json")
peer_c1, peer_ticks, peer_cpu = L("peer-c1.json"), L("peer-cpu-ticks.json"), L("peer-cpu.json")
us_per_request = lambda t: round(t["ticks"] / t["clk_tck"] * 1e6 / t["count"], 1)
stack_calls = stat_calls(os.path.join(work, "stack-commandstats.txt"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
figures = {
    "c1_overhead_p50_ms": round(c1["overhead_p50_ms"], 3),
    "c1_overhead_p99_ms": round(c1["overhead_p99_ms"], 3),
    "c1_ttft_overhead_p50_ms": round(c1t["overhead_p50_ms"], 3),
    "cpu_us_per_request": us_per_request(ticks),
    "throughput_vs_floor": round(rps("wrk-gateway.txt") / max(rps("wrk-floor.txt"), 1e-9), 3),
    "ours_vs_peer_throughput": round(rps("wrk-gateway.txt") / max(rps("wrk-peer.txt"), 1e-9), 3),
    "c1_overhead_p50_vs_peer": round(c1["overhead_p50_ms"] / max(peer_c1["overhead_p50_ms"], 1e-9), 3),
    "peer_c1_overhead_p50_ms": round(peer_c1["overhead_p50_ms"], 3),
    "peer_c1_overhead_p99_ms": round(peer_c1["overhead_p99_ms"], 3),
    "peer_cpu_us_per_request": us_per_request(peer_ticks),
    "gateway_vs_nginx_rps_ratio": round(rps("wrk-gateway.txt") / max(rps("wrk-nginx.txt"), 1e-9), 3),
    "sealed_overhead_p50_ms": round(sealed["sealed_overhead_p50_ms"], 3),
    "stack_evalsha_per_request": round(stack_calls.get("evalsha", 0) / ticks["count"], 3),
    "floor_two_hops_c1_overhead_p50_ms": round(floor_c1["overhead_p50_ms"], 3),
    "floor_two_hops_cpu_us_per_request": us_per_request(floor_ticks),
    "floor_two_hops_vs_nginx_rps_ratio": round(rps("wrk-floor.txt") / max(rps("wrk-nginx.txt"), 1e-9), 3),
}
budget = {
    "c1_overhead_p50_ms": ("<=", 0.5), "c1_overhead_p99_ms": ("<=", 2), "c1_ttft_overhead_p50_ms": ("<=", 0.5),
    "cpu_us_per_request": ("<=", 350), "throughput_vs_floor": (">=", 0.5), "ours_vs_peer_throughput": (">=", 3),
    "c1_overhead_p50_vs_peer": ("<=", 0.5), "peer_c1_overhead_p50_ms": ("report", None), "peer_c1_overhead_p99_ms": ("report", None),
    "peer_cpu_us_per_request": ("report", None), "gateway_vs_nginx_rps_ratio": ("report", None), "sealed_overhead_p50_ms": ("<=", 0.2),
    "stack_evalsha_per_request": ("report", None),
    "floor_two_hops_c1_overhead_p50_ms": ("report", None), "floor_two_hops_cpu_us_per_request": ("report", None),
    "floor_two_hops_vs_nginx_rps_ratio": ("report", None),
}
raw = {
    "c1": c1, "c1_ttft": c1t, "sealed": sealed, "floor_c1": floor_c1, "floor_cpu_ticks": floor_ticks, "cpu_run": cpu_run, "cpu_ticks": ticks, "stack_redis_calls": stack_calls,
    "wrk_gateway_rps": rps("wrk-gateway.txt"), "wrk_nginx_rps": rps("wrk-nginx.txt"), "wrk_floor_rps": rps("wrk-floor.txt"), "wrk_peer_rps": rps("wrk-peer.txt"),
    "peer_c1": peer_c1, "peer_cpu_ticks": peer_ticks, "peer_cpu_run": peer_cpu,
}
if full:
    direct, gw = L("direct.json"), L("gateway.json")
    td, tg = L("ttft-direct.json"), L("ttft-gateway.json")
    lim, rep, sig, s1000, sched = L("limiter.json"), L("report.json"), L("sign.json"), L("streams-1000.json"), L("scheduler.json")
    cap = L("cap-1.json")["window_tokens_per_s"] + L("cap-2.json")["window_tokens_per_s"]
    figures.update({
        "saturated32_overhead_p50_ms": round(gw["p50_ms"] - direct["p50_ms"], 3),
        "saturated32_overhead_p99_ms": round(gw["p99_ms"] - direct["p99_ms"], 3),
        "saturated8_ttft_overhead_p50_ms": round(tg["ttft_p50_ms"] - td["ttft_p50_ms"], 3),
        "scheduler_efficiency": round(sched["window_tokens_per_s"] / cap, 3),
        "admission_evalsha_per_decision": round(lim["calls_per_decision"], 4),
        "admission_decisions_per_s": round(lim["decisions_per_s"]),
        "attestation_report_p50_ms": round(rep["p50_ms"], 2),
        "sign_p50_ms": round(sig["p50_ms"], 4),
        "gateway_rss_mb_1000_streams": round(int(hwm) / 1024, 1),
    })
    budget.update({
        "saturated32_overhead_p50_ms": ("report", None), "saturated32_overhead_p99_ms": ("report", None),
        "saturated8_ttft_overhead_p50_ms": ("report", None), "scheduler_efficiency": (">=", 0.95),
        "admission_evalsha_per_decision": ("<=", 1), "admission_decisions_per_s": ("report", None),
        "attestation_report_p50_ms": ("<=", 50), "sign_p50_ms": ("<=", 0.1), "gateway_rss_mb_1000_streams": ("<=", 300),
    })
    raw.update({
        "saturated32_direct_latency": direct, "saturated32_gateway_latency": gw,
        "saturated8_ttft_direct": td, "saturated8_ttft_gateway": tg, "limiter": lim, "attestation_report": rep, "sign": sig,
        "streams_1000": s1000, "gateway_peak_rss_kb": int(hwm),
        "scheduler_capacity_tokens_per_s": cap, "scheduler_through_worker": sched,
    })
def meets(k):
    op, b = budget[k]
    if op == "report" or figures[k] is None: return None
    return figures[k] <= b if op == "<=" else figures[k] >= b
machine = {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
           "loadavg_start": load0, "loadavg_end": load1}
versions = {"dotnet": ver("dotnet --version"), "redis": ver("redis-server --version"), "nginx": ver("nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1"),
            "wrk": ver("wrk --version 2>&1 | head -1"),
            "peer": "@portkey-ai/gateway " + json.load(open(os.path.join(os.path.dirname(results), "peer/node_modules/@portkey-ai/gateway/package.json")))["version"],
            "node": ver("node --version"), "commit": ver("git -C " + os.path.dirname(results) + "/.. rev-parse --short HEAD")}
notes = {"sealed_overhead_p50_ms": f"sealed p50/p99 {sealed['sealed_p50_ms']:.3f}/{sealed['sealed_p99_ms']:.3f} ms vs clear {sealed['clear_p50_ms']:.3f}/{sealed['clear_p99_ms']:.3f} ms through the gateway ({sealed['count']} each, alternating, non-stream; {sealed['errors']} errors)"}
out = {"date": stamp, "mode": mode, "only": only, "machine": machine, "versions": versions, "figures": figures, "notes": notes,
       "meets_budget": {k: meets(k) for k in figures}, "budget": {k: f"{v[0]} {v[1]}" if v[1] is not None else "report" for k, v in budget.items()}, "raw": raw}
name = stamp + ("" if full else "-" + only)
json.dump(out, open(os.path.join(results, name + ".json"), "w"), indent=2)
fmt = lambda v: "null" if v is None else v
rows = "\n".join(f"| `{k}` | {fmt(figures[k])} | {out['budget'][k]} | {'—' if meets(k) is None else ('yes' if meets(k) else '**no**')} |" for k in figures)
md = f"""# Benchmark {stamp} ({mode}{'' if full else ', only ' + only})

Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory_gb']} GiB; load average {load0} at start, {load1} at end. dotnet {versions['dotnet']}; {versions['redis']}; {versions['nginx']}; commit {versions['commit']}.
Every figure comes from this one run, side by side (this machine is shared and noisy: compare ratios, not absolutes).

| key | figure | budget | meets |
| --- | --- | --- | --- |
{rows}

What users feel (concurrency 1, {c1['count']} requests each way, direct and gateway alternating): non-stream p50/p99 direct {c1['direct_p50_ms']:.3f}/{c1['direct_p99_ms']:.3f} ms vs gateway {c1['gateway_p50_ms']:.3f}/{c1['gateway_p99_ms']:.3f} ms;
time to first token p50 direct {c1t['direct_p50_ms']:.3f} ms vs gateway {c1t['gateway_p50_ms']:.3f} ms.
CPU: {ticks['ticks']} ticks of gateway + worker + attestation + redis-server ({', '.join(f"{k} {v / ticks['clk_tck'] * 1e6 / ticks['count']:.0f} µs" for k, v in ticks.get('by_process', {}).items())} per request) over {ticks['count']} requests (8 connections, {cpu_run['rps']:.0f} req/s); Redis on the stack: {stack_calls.get('evalsha', 0)} EVALSHA, {sum(stack_calls.values())} commands in all (those inside scripts included) over those requests.
The floor (two bare .NET hops, Kestrel + YARP forwarder only, chained in front of the same double): c1 p50/p99 {floor_c1['gateway_p50_ms']:.3f}/{floor_c1['gateway_p99_ms']:.3f} ms vs direct {floor_c1['direct_p50_ms']:.3f}/{floor_c1['direct_p99_ms']:.3f} ms; {floor_ticks['ticks']} ticks of the two hops over {floor_ticks['count']} requests — what any two-service .NET path costs here before auth, limits, signing or Redis.
The peer (Portkey's AI gateway {versions['peer']}, a plain OpenAI pass-through to the same double: no keys, limits or signatures): c1 p50/p99 {peer_c1['gateway_p50_ms']:.3f}/{peer_c1['gateway_p99_ms']:.3f} ms vs direct {peer_c1['direct_p50_ms']:.3f}/{peer_c1['direct_p99_ms']:.3f} ms; {peer_ticks['ticks']} ticks of its node process over {peer_ticks['count']} requests ({peer_cpu['rps']:.0f} req/s, {peer_cpu['errors']} errors).
wrk (32 connections) {raw['wrk_gateway_rps']:.0f} req/s through the gateway vs {raw['wrk_floor_rps']:.0f} req/s through the two bare hops, {raw['wrk_peer_rps']:.0f} req/s through the peer and {raw['wrk_nginx_rps']:.0f} req/s through nginx.
`sealed_overhead_p50_ms`: {notes['sealed_overhead_p50_ms']}.
"""
if full:
    md += f"""
Under saturation (not what one user feels): direct p50/p99 {direct['p50_ms']:.2f}/{direct['p99_ms']:.2f} ms vs gateway {gw['p50_ms']:.2f}/{gw['p99_ms']:.2f} ms (32 concurrent, non-stream);
TTFT p50 direct {td['ttft_p50_ms']:.2f} ms vs gateway {tg['ttft_p50_ms']:.2f} ms (8 streams);
scheduler {sched['window_tokens_per_s']:.1f} tokens/s through the worker vs {cap:.1f} tokens/s capacity (2 backends × 2 slots measured alone);
admission (one chat completion's limits) {lim['decisions']} decisions, {lim['redis_client_calls']} client script calls (EVALSHA {lim['evalsha']}, EVAL {lim['eval']}), {lim['releases_zrem']} lease releases (ZREM);
1,000 streams: {s1000['completed']} completed, {s1000['incomplete']} incomplete, errors {s1000['errors']}, gateway peak RSS {int(hwm)/1024:.1f} MB.
"""
open(os.path.join(results, name + ".md"), "w").write(md)
open(os.path.join(results, "latest.md"), "w").write(md)
print(md)
PY
