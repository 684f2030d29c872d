#!/usr/bin/env bash
# Measured launch of a release: before any container starts, extends the app PCR (sha256 bank) of
# the vTPM with one event per fact of the release — the compose file, each image digest, the
# non-secret configuration, whether interactive access is on — writes the matching event log
# (JSON lines) and then starts the release with `docker compose up -d`.
#
#   measured-launch.sh [--compose FILE] [--env FILE] [--log FILE] [--pcr N] [--access-marker FILE]
#                      [--tcti TCTI] [--no-start] [--dry-run] [--no-systemd]
#
# --no-start: measure and log, but start nothing (tests, local stack). --dry-run: print the events
# and the PCR value they replay to; touch neither the TPM nor the log. The TCTI comes from --tcti
# or TPM2TOOLS_TCTI (default device:/dev/tpmrm0). It refuses to run when an image is not pinned by
# digest, or when the PCR is not zero or a log exists already (one launch per boot): a new release
# needs a reboot, which resets the PCR and the log (/run is a tmpfs). --no-systemd (machines without
# systemd: tests, the local stack) takes SSH and extensions from the access profile alone.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/launch/app-events.sh
source "$HERE/app-events.sh"

compose=/opt/teeaspire/compose/docker-compose.yaml
env_file=/opt/teeaspire/compose/release.env
log=/run/tee-aspire/app-event-log.jsonl
pcr=13
marker=/etc/tee-aspire/access-profile
start=1
dry=0
no_systemd=0
while (($#)); do
  case $1 in
    --compose) compose=$2; shift 2 ;;
    --env) env_file=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --pcr) pcr=$2; shift 2 ;;
    --access-marker) marker=$2; shift 2 ;;
    --tcti) export TPM2TOOLS_TCTI=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    --no-systemd) no_systemd=1; shift ;;
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

events=$(app_release_events "$compose" "$env_file" "$(interactive_access)") || { echo "refusing to launch" >&2; exit 1; }

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
  args=(-f "$compose")
  # Secrets stay in the project's .env (not measured); the measured, non-secret configuration follows it.
  [[ -f $(dirname "$compose")/.env ]] && args+=(--env-file "$(dirname "$compose")/.env")
  docker compose "${args[@]}" --env-file "$env_file" up -d
fi
