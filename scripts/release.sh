#!/usr/bin/env bash
# Makes a release: the compose file with every image pinned by digest, the non-secret configuration,
# and release-manifest.json (image digests, compose and config hashes, the launch's events and the
# app PCR value they replay to) — what customers pin with `tee-verify policy from-release`.
#
#   scripts/release.sh --compose FILE --env FILE [--image REF=sha256:HEX]... [--pcr 13] [-o DIR]
#
# An image already pinned in the compose (name@sha256:…) stays. Otherwise its digest comes from
# --image (REF exactly as written in the compose), or from `docker buildx imagetools inspect` when
# that is available; an image with no digest stops the release. The events are computed by
# deploy/launch/app-events.sh, the same code the measured launch runs on the VM.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/launch/app-events.sh
source "$ROOT/deploy/launch/app-events.sh"

compose=""
env_file=""
out=out/release
pcr=13
declare -A given=()
while (($#)); do
  case $1 in
    --compose) compose=$2; shift 2 ;;
    --env) env_file=$2; shift 2 ;;
    --image) given[${2%%=*}]=${2#*=}; shift 2 ;;
    --pcr) pcr=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ -f $compose && -f $env_file ]] || { echo "usage: $0 --compose FILE --env FILE [--image REF=sha256:HEX]... [-o DIR]" >&2; exit 2; }

resolve() {
  local ref=$1 digest
  if app_image_digest "$ref" >/dev/null; then echo "$ref"; return; fi
  if [[ -n ${given[$ref]:-} ]]; then
    digest=${given[$ref]}
  elif command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
    digest=$(docker buildx imagetools inspect "$ref" --format '{{json .Manifest.Digest}}' | tr -d '"')
  fi
  [[ ${digest:-} =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "no digest for $ref (pass --image $ref=sha256:…)" >&2; return 1; }
  # Drop the tag (not the registry port): name[:tag] → name@digest.
  local name=$ref
  [[ ${ref##*/} == *:* ]] && name=${ref%:*}
  echo "$name@$digest"
}

mkdir -p "$out"
released="$out/docker-compose.release.yaml"
cp "$compose" "$released.tmp"
while read -r ref; do
  pinned=$(resolve "$ref")
  [[ $pinned == "$ref" ]] && continue
  REF=$ref PINNED=$pinned perl -pi -e 's/^(\s*image:\s*["\x27]?)\Q$ENV{REF}\E(["\x27]?\s*)$/$1$ENV{PINNED}$2/' "$released.tmp"
done < <(app_compose_images "$compose" | LC_ALL=C sort -u)
mv "$released.tmp" "$released"
cp "$env_file" "$out/release.env"

access="profile=locked ssh=off extensions=off"
events=$(app_release_events "$released" "$out/release.env" "$access")
value=$APP_PCR_ZERO
index=0
lines=()
while IFS=$'\t' read -r type data; do
  lines+=("$(app_event_line "$index" "$type" "$data")")
  value=$(app_pcr_extend "$value" "$(app_event_digest "$type" "$data")")
  index=$((index + 1))
done <<<"$events"

printf '%s\n' "${lines[@]}" | jq -s --argjson pcr "$pcr" --arg value "$value" \
  --arg compose "$(sha256sum <"$released" | cut -d' ' -f1)" --arg config "$(app_config_sha256 "$out/release.env")" \
  --arg created "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  '{version: 1, created: $created,
    compose_sha256: $compose, config_sha256: $config,
    images: [.[] | select(.type == "image") | .data],
    interactive_access: (.[] | select(.type == "interactive_access") | .data),
    app_pcr: {index: $pcr, sha256: $value},
    events: .}' >"$out/release-manifest.json"
echo "release: $out/release-manifest.json (PCR $pcr = $value)"
