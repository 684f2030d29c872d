#!/usr/bin/env bash
# TeeAspire without containers: redis-server, (optionally) the Ollama double and a software TPM,
# and the three services in Release, all on loopback, wired with the same environment variables
# the Aspire AppHost injects.
#
#   scripts/local-stack.sh up [--fake-ollama] [--swtpm]   start, wait for health, print READY
#     (with --swtpm and TEE_MEASURED_RELEASE=<scripts/release.sh -o folder>: measured launch first)
#   scripts/local-stack.sh down                            stop exactly what `up` started
#   scripts/local-stack.sh status                          what runs, and its health
#   scripts/local-stack.sh restart NAME                    kill one process and start it again (fault tests)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${TEE_RUN_DIR:-$ROOT/.run}
PIDS=$RUN/pids
LOGS=$RUN/logs

REDIS_PORT=${TEE_REDIS_PORT:-16379}
GATEWAY_PORT=${TEE_GATEWAY_PORT:-8080}
ADMIN_PORT=${TEE_ADMIN_PORT:-8081}
WORKER_PORT=${TEE_WORKER_PORT:-18081}
ATTESTATION_PORT=${TEE_ATTESTATION_PORT:-18082}
FAKE_OLLAMA_PORT=${TEE_FAKE_OLLAMA_PORT:-18434}
SWTPM_PORT=${TEE_SWTPM_PORT:-12321}
OLLAMA_URL=${OLLAMA_URL:-http://127.0.0.1:11434}
START_TIMEOUT=${TEE_START_TIMEOUT:-180}
CONFIGURATION=${TEE_CONFIGURATION:-Release}

die() { echo "local-stack: $*" >&2; exit 1; }

pid_alive() { [[ -f $PIDS/$1.pid ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

start_bg() { # name, command...
  local name=$1; shift
  mkdir -p "$RUN/cmds"
  printf '%q ' "$@" >"$RUN/cmds/$name"   # kept for `restart`
  "$@" >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
}

restart() { # name: kill one process (as a crash would) and start it again with the same command
  local name=$1
  [[ -f $RUN/cmds/$name ]] || die "no '$name' was started by 'up'"
  if pid_alive "$name"; then kill -KILL "$(cat "$PIDS/$name.pid")" 2>/dev/null || true; fi
  sleep 0.2
  # exec, so the recorded pid is the process itself and `down` stops it
  eval "exec $(cat "$RUN/cmds/$name")" >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
  echo "local-stack: restarted $name (pid $!)"
}

start_service() { # name, project, port, env...
  local name=$1 project=$2 port=$3; shift 3
  local dll
  dll=$ROOT/$project/bin/$CONFIGURATION/net10.0/$(basename "$project").dll
  [[ -f $dll ]] || die "$dll is missing: the build did not produce it"
  start_bg "$name" env ASPNETCORE_URLS="http://127.0.0.1:$port" DOTNET_ENVIRONMENT=Production \
    ASPNETCORE_ENVIRONMENT=Production OTEL_SERVICE_NAME="$name" "$@" dotnet "$dll"
}

wait_key_set() { # internal token, deadline
  # READY means a report can verify end to end: the worker's answer-signing key and the gateway's
  # sealing key are registered and bound (they register right after start, with backoff if the
  # attestation service was not up yet). Asked of the attestation service itself, with the internal
  # token, so the wait spends nothing of the public per-IP report limit.
  local token=$1 deadline=$2 nonce
  nonce=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  until curl -fsS --max-time 5 -H "x-tee-internal-token: $token" "http://127.0.0.1:$ATTESTATION_PORT/attestation?nonce=$nonce" 2>/dev/null \
      | python3 -c 'import json,sys; p={k.get("purpose") for k in json.load(sys.stdin).get("key_set",{}).get("keys",[])}; sys.exit(0 if {"answer-signing","body-sealing"} <= p else 1)' 2>/dev/null; do
    if (( $(date +%s) > deadline )); then
      echo "local-stack: the key set did not list the worker's signing key and the gateway's sealing key within ${START_TIMEOUT}s; the ends of their logs:" >&2
      tail -n 20 "$LOGS/worker.log" "$LOGS/gateway.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

wait_healthy() { # name, url, deadline
  local name=$1 url=$2 deadline=$3
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if ! pid_alive "$name"; then
      echo "local-stack: $name exited; the end of its log ($LOGS/$name.log):" >&2
      tail -n 40 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    if (( $(date +%s) > deadline )); then
      echo "local-stack: $name did not become healthy at $url within ${START_TIMEOUT}s; the end of its log:" >&2
      tail -n 40 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

wait_port() { # name, port, deadline
  local name=$1 port=$2 deadline=$3
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    pid_alive "$name" || { tail -n 20 "$LOGS/$name.log" >&2; return 1; }
    (( $(date +%s) <= deadline )) || { echo "local-stack: $name not listening on $port" >&2; return 1; }
    sleep 0.2
  done
}

up() {
  local fake_ollama=0 swtpm=0
  for arg in "$@"; do
    case $arg in
      --fake-ollama) fake_ollama=1 ;;
      --swtpm) swtpm=1 ;;
      *) die "unknown option '$arg' (use --fake-ollama, --swtpm)" ;;
    esac
  done
  for name in redis gateway worker attestation fake-ollama swtpm; do
    pid_alive "$name" && die "the stack is already running ($name); run '$0 down' first"
  done
  # Debian prerequisites: installed when we may (root or password-less sudo), else the command to run.
  if (( swtpm )); then "$ROOT/scripts/prereqs.sh" run --swtpm || exit 1; else "$ROOT/scripts/prereqs.sh" run || exit 1; fi

  mkdir -p "$PIDS" "$LOGS" "$RUN/redis"
  rm -f "$LOGS"/*.log
  local deadline=$(( $(date +%s) + START_TIMEOUT ))

  if [[ ${TEE_SKIP_BUILD:-0} == 1 ]]; then
    echo "local-stack: TEE_SKIP_BUILD=1: using the $CONFIGURATION binaries as they are"
  else
    echo "local-stack: building ($CONFIGURATION)…"
    dotnet build "$ROOT/TeeAspire.Offline.slnf" -c "$CONFIGURATION" -nologo -v quiet >"$LOGS/build.log" 2>&1 \
      || { tail -n 40 "$LOGS/build.log" >&2; die "build failed (full log: $LOGS/build.log)"; }
  fi

  trap 'echo "local-stack: start failed; stopping what was started" >&2; down >/dev/null 2>&1 || true' ERR

  start_bg redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes
  wait_port redis "$REDIS_PORT" "$deadline"

  local ollama_url=$OLLAMA_URL
  if (( fake_ollama )); then
    start_service fake-ollama tests/OllamaDouble "$FAKE_OLLAMA_PORT"
    ollama_url=http://127.0.0.1:$FAKE_OLLAMA_PORT
    wait_healthy fake-ollama "$ollama_url/api/version" "$deadline"
    echo "local-stack: *** --fake-ollama: the Ollama DOUBLE from tests/ answers at $ollama_url — NOT A MODEL, canned text only ***"
  fi

  local tpm_env=()
  if (( swtpm )); then
    mkdir -p "$RUN/tpm"
    start_bg swtpm swtpm socket --tpm2 --tpmstate "dir=$RUN/tpm" \
      --server "type=tcp,port=$SWTPM_PORT,bindaddr=127.0.0.1" \
      --ctrl "type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1" --flags not-need-init,startup-clear
    wait_port swtpm "$SWTPM_PORT" "$deadline"
    tpm_env=("Attestation__Tpm__Tcti=swtpm:host=127.0.0.1,port=$SWTPM_PORT")
    if [[ -n ${TEE_MEASURED_RELEASE:-} ]]; then
      # The measured launch against swtpm before the services start: TEE_MEASURED_RELEASE is a
      # scripts/release.sh output folder (deploy/README.md "Measured launch").
      rm -f "$RUN/app-event-log.jsonl"
      echo "${TEE_MEASURED_PROFILE:-locked}" >"$RUN/access-profile"
      "$ROOT/deploy/launch/measured-launch.sh" --tcti "swtpm:host=127.0.0.1,port=$SWTPM_PORT" --no-start --no-systemd --no-engine \
        --compose "$TEE_MEASURED_RELEASE/docker-compose.release.yaml" --env "$TEE_MEASURED_RELEASE/release.env" \
        --manifest "$TEE_MEASURED_RELEASE/release-manifest.json" --work "$RUN/launch" \
        --log "$RUN/app-event-log.jsonl" --access-marker "$RUN/access-profile"
      tpm_env+=("Attestation__AppEventLog=$RUN/app-event-log.jsonl")
    fi
  fi

  local master_key=${TEE_MASTER_KEY:-}
  if [[ -z $master_key ]]; then
    master_key=sk-tee-master-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "local-stack: TEE_MASTER_KEY was not set; generated one (shown once, kept in $RUN/master-key, mode 600):"
    echo "  $master_key"
  fi
  (umask 077; printf '%s' "$master_key" >"$RUN/master-key")
  local internal_token
  internal_token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

  local redis_cs="127.0.0.1:$REDIS_PORT,abortConnect=false"
  start_service attestation Attestation.Api "$ATTESTATION_PORT" \
    "ConnectionStrings__redis=$redis_cs" "Attestation__InternalToken=$internal_token" "${tpm_env[@]}"
  start_service worker Inference.Worker "$WORKER_PORT" \
    "ConnectionStrings__redis=$redis_cs" \
    "ConnectionStrings__deepseek-r1-1-5b=Endpoint=$ollama_url;Model=deepseek-r1:1.5b" \
    "ConnectionStrings__deepseek-r1-7b=Endpoint=$ollama_url;Model=deepseek-r1:7b" \
    "services__attestation__http__0=http://127.0.0.1:$ATTESTATION_PORT" \
    "Attestation__InternalToken=$internal_token"
  start_service gateway Gateway.Api "$GATEWAY_PORT" \
    "ConnectionStrings__redis=$redis_cs" \
    "services__inference-worker__http__0=http://127.0.0.1:$WORKER_PORT" \
    "services__attestation__http__0=http://127.0.0.1:$ATTESTATION_PORT" \
    "TEE_MASTER_KEY=$master_key" "Attestation__InternalToken=$internal_token" \
    "ASPNETCORE_URLS=http://127.0.0.1:$GATEWAY_PORT;http://127.0.0.1:$ADMIN_PORT" "Gateway__AdminPort=$ADMIN_PORT"

  wait_healthy attestation "http://127.0.0.1:$ATTESTATION_PORT/health" "$deadline"
  wait_healthy worker "http://127.0.0.1:$WORKER_PORT/health" "$deadline"
  wait_healthy gateway "http://127.0.0.1:$GATEWAY_PORT/health" "$deadline"
  wait_key_set "$internal_token" "$deadline"
  trap - ERR

  echo "READY gateway=http://127.0.0.1:$GATEWAY_PORT admin=http://127.0.0.1:$ADMIN_PORT worker=http://127.0.0.1:$WORKER_PORT attestation=http://127.0.0.1:$ATTESTATION_PORT redis=127.0.0.1:$REDIS_PORT ollama=$ollama_url logs=$LOGS"
}

down() {
  [[ -d $PIDS ]] || { echo "local-stack: nothing to stop"; return 0; }
  local pids=() name pid
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); fi
  done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$PIDS"/*.pid
  echo "local-stack: stopped ${#pids[@]} process(es)"
}

status() {
  local name
  for name in redis fake-ollama swtpm attestation worker gateway; do
    [[ -f $PIDS/$name.pid ]] || continue
    if pid_alive "$name"; then echo "$name: running (pid $(cat "$PIDS/$name.pid"))"; else echo "$name: DEAD (see $LOGS/$name.log)"; fi
  done
  if pid_alive gateway; then
    curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/health" && echo "gateway /health: 200" || echo "gateway /health: failing"
  fi
}

case ${1:-} in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  restart) shift; restart "${1:?name: redis, fake-ollama, swtpm, attestation, worker or gateway}" ;;
  *) echo "usage: $0 up [--fake-ollama] [--swtpm] | down | status | restart NAME" >&2; exit 2 ;;
esac
