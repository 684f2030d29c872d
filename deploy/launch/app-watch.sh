#!/usr/bin/env bash
# Watches containers started after the measured launch: any container whose image is not one of
# the release's digests (the `image` events of the log) extends the app PCR with an `unexpected`
# event "container=<name> image=<reference>" and is logged the same way.
#
#   app-watch.sh [--log FILE] [--pcr N] [--tcti TCTI]                    follow `docker events`
#   app-watch.sh [--log FILE] [--pcr N] [--tcti TCTI] --observe NAME REF check one container (the
#                                                                        entry point the loop and tests use)
# REF is the container's image reference; its digest counts only when the local image carries it
# (RepoDigests), so a tag or a forged "name@sha256:…" string of another image is unexpected.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/launch/app-events.sh
source "$HERE/app-events.sh"

log=/run/tee-aspire/app-event-log.jsonl
pcr=13
observe=()
while (($#)); do
  case $1 in
    --log) log=$2; shift 2 ;;
    --pcr) pcr=$2; shift 2 ;;
    --tcti) export TPM2TOOLS_TCTI=$2; shift 2 ;;
    --observe) observe=("$2" "$3"); shift 3 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
export TPM2TOOLS_TCTI=${TPM2TOOLS_TCTI:-device:/dev/tpmrm0}

released() {
  jq -r 'select(.type == "image") | .data' "$log" 2>/dev/null
}

# The digest REF names, when the local image really has it; empty when unknown or unpinned.
verified_digest() {
  local ref=$1 digest
  digest=$(app_image_digest "$ref") || return 0
  if command -v docker >/dev/null && docker image inspect "$ref" >/dev/null 2>&1; then
    docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" | grep -q "@$digest$" && echo "$digest"
  elif [[ -z ${TEE_WATCH_NO_DOCKER:-} ]]; then
    return 0
  else
    # No container engine (tests): the reference's digest is taken as given.
    echo "$digest"
  fi
}

observe_one() {
  local name=$1 ref=$2 digest data line
  digest=$(verified_digest "$ref")
  if [[ -n $digest ]] && released | grep -qx "$digest"; then
    return 0
  fi
  data="container=$(tr -cd 'A-Za-z0-9_.-' <<<"$name" | cut -c1-128) image=$(tr -cd 'A-Za-z0-9_.:/@-' <<<"$ref" | cut -c1-300)"
  exec 9>>"$log.lock"
  flock 9
  line=$(app_event_line "$(wc -l <"$log")" unexpected "$data")
  printf '%s\n' "$line" >>"$log"
  tpm2_pcrextend "$pcr:sha256=$(jq -r .digest <<<"$line")"
  flock -u 9
  echo "unexpected container measured: $data" >&2
}

[[ -s $log ]] || { echo "no launch log at $log: the measured launch has not run" >&2; exit 1; }
if ((${#observe[@]})); then
  observe_one "${observe[@]}"
  exit 0
fi
docker events --filter type=container --filter event=start --format '{{.Actor.Attributes.name}} {{.Actor.Attributes.image}}' |
  while read -r name ref; do observe_one "$name" "$ref"; done
