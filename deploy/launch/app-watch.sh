#!/usr/bin/env bash
# Checks every running container against the measured launch: a container whose image (the image
# it runs, by its RepoDigests) is not one of the release's digests — the `image` events of the log —
# extends the app PCR with an `unexpected` event "container=<name> id=<id> image=<reference>" and
# is logged the same way (once per container).
#
#   app-watch.sh [--log FILE] [--pcr N] [--tcti TCTI]          rescan every running container, then
#                                                              follow `docker events` (the service)
#   app-watch.sh [--log FILE] [--pcr N] [--tcti TCTI] --scan   check every running container once:
#                                                              exit 3 if any is unexpected (the launch)
#   app-watch.sh [--log FILE] [--pcr N] [--tcti TCTI] --observe ID|NAME   check one container
#
# The service scans at every (re)start, and replays the events since just before its scan, so a
# container started before it, during its scan or while it was down is checked all the same. It
# writes FILE.watching (its PID) once the scan is done: the launch waits for that before `up`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/launch/app-events.sh
source "$HERE/app-events.sh"

log=/run/tee-aspire/app-event-log.jsonl
pcr=13
mode=follow
target=""
while (($#)); do
  case $1 in
    --log) log=$2; shift 2 ;;
    --pcr) pcr=$2; shift 2 ;;
    --tcti) export TPM2TOOLS_TCTI=$2; shift 2 ;;
    --scan) mode=scan; shift ;;
    --observe) mode=observe; target=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
export TPM2TOOLS_TCTI=${TPM2TOOLS_TCTI:-device:/dev/tpmrm0}

released() {
  jq -r 'select(.type == "image") | .data' "$log"
}

# record DATA: appends an unexpected event and extends the PCR with it, unless the log has it already.
record() {
  local data=$1 line
  exec 9>>"$log.lock"
  flock 9
  if ! jq -e --arg d "$data" 'select(.type == "unexpected" and .data == $d)' "$log" >/dev/null; then
    line=$(app_event_line "$(wc -l <"$log")" unexpected "$data")
    printf '%s\n' "$line" >>"$log"
    tpm2_pcrextend "$pcr:sha256=$(jq -r .digest <<<"$line")"
    echo "unexpected container measured: $data" >&2
  fi
  flock -u 9
}

# check ID: 0 when the container runs a measured image (or runs no more), 3 when it was unexpected.
check() {
  local info name ref image digests
  info=$(docker inspect "$1" 2>/dev/null) || return 0
  jq -e '.[0].State.Running == true' >/dev/null <<<"$info" || return 0
  name=$(jq -r '.[0].Name | ltrimstr("/")' <<<"$info")
  ref=$(jq -r '.[0].Config.Image' <<<"$info")
  image=$(jq -r '.[0].Image' <<<"$info")
  digests=$(docker image inspect "$image" 2>/dev/null | jq -r '.[0].RepoDigests[]? | sub(".*@"; "")') || digests=""
  if [[ -n $digests ]] && grep -qxF -f <(released) <<<"$digests"; then
    return 0
  fi
  record "container=$(tr -cd 'A-Za-z0-9_.-' <<<"$name" | cut -c1-128) id=$(jq -r '.[0].Id' <<<"$info" | tr -cd '0-9a-f' | cut -c1-12) image=$(tr -cd 'A-Za-z0-9_.:/@-' <<<"$ref" | cut -c1-300)"
  return 3
}

scan() {
  local id bad=0 ids
  ids=$(docker ps -q --no-trunc) || { echo "docker ps failed: cannot check the running containers" >&2; return 1; }
  for id in $ids; do
    check "$id" || bad=$?
  done
  return "$bad"
}

[[ -s $log ]] || { echo "no launch log at $log: the measured launch has not run" >&2; exit 1; }
case $mode in
  observe) check "$target" || true; exit 0 ;;
  scan) scan; exit $? ;;
esac
since=$(($(date +%s) - 1))
scan || (($? == 3)) || exit 1
echo "$$" >"$log.watching"
# Events since just before the scan: nothing started during it is missed (repeats are logged once).
docker events --since "$since" --filter type=container --filter event=start --format '{{json .}}' |
  while read -r event; do check "$(jq -r '.id' <<<"$event")" || true; done
echo "docker events ended: restarting rescans" >&2
exit 1
