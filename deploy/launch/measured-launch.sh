#!/usr/bin/env bash
# Measured launch of a release: before any container starts, extends the app PCR (sha256 bank) of
# the vTPM with one event per fact of the release — the compose file, each image digest Compose
# resolves, the non-secret configuration, whether interactive access is on — writes the matching
# event log (JSON lines), starts the watcher, runs `docker compose up -d`, and counts the release as
# started only when every running container runs a measured image.
#
#   measured-launch.sh [--compose FILE] [--env FILE] [--secrets FILE] [--manifest FILE] [--log FILE]
#                      [--work DIR] [--pcr N] [--access-marker FILE] [--tcti TCTI]
#                      [--no-start] [--dry-run] [--no-systemd] [--no-engine]
#
# The image set is Compose's own resolved model (`docker compose config --format json`, run with an
# empty environment on private copies of the files in --work), never lines of YAML; it must be the
# manifest's service by service (release.sh read the same file with the .NET reader). Refused: an
# image not pinned by digest, `build`, a compose file, release.env or service map other than the
# manifest's, a release.env outside the strict rule, a secrets file setting anything but the
# manifest's `secret_variables`, secrets that change the model beyond the containers' environment,
# a PCR that is not zero or a log that exists (one launch per boot: a new release needs a reboot,
# which resets the PCR and the log, /run being a tmpfs).
#
# --no-start: measure and log, but start nothing (tests, local stack). --dry-run: print the events
# and the PCR value they replay to; touch neither the TPM nor the log. The TCTI comes from --tcti or
# TPM2TOOLS_TCTI (default device:/dev/tpmrm0). --no-systemd (machines without systemd: tests, the
# local stack) takes SSH and extensions from the access profile alone and runs the watcher as a
# child process (its PID in DIR/app-watch.pid) instead of tee-aspire-watch.service. --no-engine
# (only with --no-start: the local stack, which has no container engine) takes the services from
# the manifest instead of Compose's model, and says so.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/launch/app-events.sh
source "$HERE/app-events.sh"

compose=/opt/teeaspire/compose/docker-compose.yaml
env_file=/opt/teeaspire/compose/release.env
secrets=""
manifest=/opt/teeaspire/compose/release-manifest.json
work=/run/tee-aspire-launch
log=/run/tee-aspire/app-event-log.jsonl
pcr=13
marker=/etc/tee-aspire/access-profile
start=1
dry=0
no_systemd=0
no_engine=0
while (($#)); do
  case $1 in
    --compose) compose=$2; shift 2 ;;
    --env) env_file=$2; shift 2 ;;
    --secrets) secrets=$2; shift 2 ;;
    --manifest) manifest=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --pcr) pcr=$2; shift 2 ;;
    --access-marker) marker=$2; shift 2 ;;
    --tcti) export TPM2TOOLS_TCTI=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    --no-systemd) no_systemd=1; shift ;;
    --no-engine) no_engine=1; shift ;;
    --dry-run) dry=1; start=0; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
export TPM2TOOLS_TCTI=${TPM2TOOLS_TCTI:-device:/dev/tpmrm0}
[[ $pcr =~ ^[0-9]+$ ]] && ((pcr <= 23)) || { echo "--pcr must be 0–23" >&2; exit 2; }

# Interactive access: the profile Terraform wrote (locked|debug) and what systemd says of SSH and
# the Azure VM agent's extension handling. Anything unknown counts as on.
interactive_access() {
  local profile=unknown ssh=on ext=on
  [[ -r $marker ]] && profile=$(tr -cd 'a-z' <"$marker")
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    if ! systemctl is-enabled --quiet ssh.service ssh.socket 2>/dev/null && ! systemctl is-active --quiet ssh.service ssh.socket 2>/dev/null; then ssh=off; fi
    # The VM agent runs extensions unless its configuration says Extensions.Enabled=n.
    if grep -qiE '^[[:space:]]*Extensions\.Enabled[[:space:]]*=[[:space:]]*n' /etc/waagent.conf 2>/dev/null; then ext=off; fi
  elif ((no_systemd)); then
    # No systemd here (tests, the local stack), said explicitly: the profile alone decides.
    if [[ $profile == locked ]]; then ssh=off; ext=off; fi
  fi
  echo "profile=$profile ssh=$ssh extensions=$ext"
}

pcr_value() {
  tpm2_pcrread "sha256:$pcr" | sed -n -E "s/^[[:space:]]*${pcr}[[:space:]]*:[[:space:]]*0x([0-9A-Fa-f]{64}).*/\1/p" | tr 'A-F' 'a-f'
}

refuse() { echo "$1: refusing to launch" >&2; exit 1; }
# Private copies (root only, outside the attestation container's read-only view of /run/tee-aspire):
# what is hashed is what Compose reads, even if the originals change meanwhile.
[[ -n $secrets ]] || secrets=$(dirname "$compose")/.env
project_dir=$(cd "$(dirname "$compose")" && pwd)
[[ -f $compose && -f $env_file && -f $manifest ]] || refuse "the compose file, release.env or the release manifest is missing ($compose, $env_file, $manifest)"
(umask 077; mkdir -p "$work")
cp "$compose" "$work/docker-compose.yaml"
cp "$env_file" "$work/release.env"
cp "$manifest" "$work/release-manifest.json"
compose=$work/docker-compose.yaml env_file=$work/release.env manifest=$work/release-manifest.json
if [[ -f $secrets ]]; then (umask 077; cp "$secrets" "$work/secrets.env"); secrets=$work/secrets.env; else secrets=""; fi

jq -e '(.secret_variables // []) | type == "array" and all(type == "string" and test("^[A-Za-z_][A-Za-z0-9_]*$"))' "$manifest" >/dev/null 2>&1 \
  || refuse "the release manifest's secret_variables is not a list of variable names"
mapfile -t secret_names < <(jq -r '(.secret_variables // [])[]' "$manifest")
if ((no_engine)); then
  ((start == 0)) || refuse "--no-engine starts nothing: it needs --no-start or --dry-run"
  echo "WARNING: no container engine (--no-engine): the services are the manifest's, not Compose's model" >&2
  app_env_check "$env_file" || refuse "release.env"
  services=$(jq -c '.services // {}' "$manifest")
else
  services=$(app_compose_resolve "$compose" "$project_dir" "$env_file" "$secrets" "${secret_names[@]}") || refuse "Compose's model of the release is not measurable"
fi
[[ $(sha256sum <"$compose" | cut -d' ' -f1) == "$(jq -r '.compose_sha256' "$manifest")" ]] || refuse "the compose file is not the release manifest's"
[[ $(app_config_sha256 "$env_file") == "$(jq -r '.config_sha256' "$manifest")" ]] || refuse "release.env is not the release manifest's"
if [[ $(jq -S . <<<"$services") != "$(jq -S '.services // {}' "$manifest")" ]]; then
  echo "Compose resolves the services as $(jq -c . <<<"$services"), the release manifest says $(jq -c '.services // {}' "$manifest")" >&2
  refuse "Compose resolves the release differently from its manifest"
fi
events=$(app_release_events "$compose" "$env_file" "$(interactive_access)" "$services") || refuse "no events"

if ((dry)); then
  value=$APP_PCR_ZERO
  while IFS=$'\t' read -r type data; do
    digest=$(app_event_digest "$type" "$data")
    value=$(app_pcr_extend "$value" "$digest")
    printf '%s\t%s\t%s\n' "$type" "$data" "$digest"
  done <<<"$events"
  echo "pcr$pcr=$value"
  exit 0
fi

mkdir -p "$(dirname "$log")"
exec 9>>"$log.lock"
flock 9
current=$(pcr_value)
[[ -n $current ]] || { echo "cannot read PCR $pcr (TCTI $TPM2TOOLS_TCTI)" >&2; exit 1; }
if [[ -s $log || $current != "$APP_PCR_ZERO" ]]; then
  echo "PCR $pcr is $current and $log exists: launched already (reboot to launch a new release) or the PCR is used by something else" >&2
  exit 1
fi
index=0
while IFS=$'\t' read -r type data; do
  line=$(app_event_line "$index" "$type" "$data")
  digest=$(jq -r .digest <<<"$line")
  # Log first: a crash between the two leaves a log that does not replay (refused), never a silent extend.
  printf '%s\n' "$line" >>"$log"
  tpm2_pcrextend "$pcr:sha256=$digest"
  index=$((index + 1))
done <<<"$events"
chmod 0644 "$log"
if [[ $(pcr_value) != "$(app_log_replay "$log")" ]]; then
  echo "PCR $pcr does not replay from $log after the launch" >&2
  exit 1
fi
flock -u 9
echo "measured $(wc -l <"$log") events into PCR $pcr"

if ((start)); then
  # The watcher first (it scans what runs already, then follows every start), then the release.
  rm -f "$log.watching"
  if ((no_systemd)) || ! command -v systemctl >/dev/null || [[ ! -d /run/systemd/system ]]; then
    setsid "$HERE/app-watch.sh" --log "$log" --pcr "$pcr" </dev/null >>"$work/app-watch.out" 2>&1 &
    echo $! >"$work/app-watch.pid"
  else
    systemctl restart tee-aspire-watch.service
  fi
  for _ in $(seq 600); do [[ -s $log.watching ]] && break; sleep 0.1; done
  [[ -s $log.watching ]] || { echo "the watcher did not start: the release is not started" >&2; exit 1; }
  args=(-f "$compose" --project-directory "$project_dir" --env-file "$env_file")
  [[ -n $secrets ]] && args+=(--env-file "$secrets")
  env -i PATH="$PATH" docker compose "${args[@]}" up -d
  if ! "$HERE/app-watch.sh" --log "$log" --pcr "$pcr" --scan; then
    echo "containers outside the measurement are running (measured as unexpected): the release does not count as started" >&2
    exit 1
  fi
  echo "release started: every running container runs a measured image"
fi
