#!/usr/bin/env bash
# Makes a release: the compose file with every image pinned by digest, the non-secret configuration,
# and release-manifest.json (each service's image, the image digests, compose and config hashes, the
# secret variables' names, the launch's events and the app PCR value they replay to) — what
# customers pin with `tee-verify policy from-release`.
#
#   scripts/release.sh --compose FILE --env FILE [--secret NAME]... [--image REF=sha256:HEX]... [--pcr 13] [-o DIR]
#
# The compose file is read by the measured launch's rule (`tee-verify release-compose`, a real YAML
# reading with Compose's interpolation: refused are build, extends, include, env_file, tags, several
# documents, unknown keys, a secret variable outside a service's environment, an image not pinned).
# Where `docker compose` runs, Compose's own resolved model is read too (deploy/launch/app-events.sh
# app_compose_resolve, the launch's code) and must give the same images service by service.
# --secret names a Compose variable the unmeasured secrets file will set (e.g. MASTER_KEY); on the
# VM the secrets file may set those and nothing else. An image already pinned (name@sha256:…)
# stays; otherwise its digest comes from --image (REF exactly as the compose resolves it) or from
# `docker buildx imagetools inspect` when that is available; an image with no digest stops the
# release. TEE_VERIFY overrides the tee-verify command (default: scripts/tee-verify).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/launch/app-events.sh
source "$ROOT/deploy/launch/app-events.sh"
read -ra tee_verify <<<"${TEE_VERIFY:-$ROOT/scripts/tee-verify}"

compose=""
env_file=""
out=out/release
pcr=13
secrets=()
declare -A given=()
while (($#)); do
  case $1 in
    --compose) compose=$2; shift 2 ;;
    --env) env_file=$2; shift 2 ;;
    --secret) secrets+=("$2"); shift 2 ;;
    --image) given[${2%=*}]=${2##*=}; shift 2 ;;
    --pcr) pcr=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ -f $compose && -f $env_file ]] || { echo "usage: $0 --compose FILE --env FILE [--secret NAME]... [--image REF=sha256:HEX]... [-o DIR]" >&2; exit 2; }
app_env_check "$env_file" || exit 1
secret_args=()
for s in "${secrets[@]}"; do secret_args+=(--secret "$s"); done

digest_of() {
  local ref=$1 digest=""
  if [[ -n ${given[$ref]:-} ]]; then
    digest=${given[$ref]}
  elif command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
    digest=$(docker buildx imagetools inspect "$ref" --format '{{json .Manifest.Digest}}' | tr -d '"')
  fi
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "no digest for $ref (pass --image $ref=sha256:…)" >&2; return 1; }
  echo "$digest"
}

refs=$("${tee_verify[@]}" release-compose "$compose" --env "$env_file" "${secret_args[@]}" --list) || { echo "release refused" >&2; exit 1; }
image_args=()
while read -r ref; do
  [[ -n $ref ]] || continue
  app_image_digest "$ref" >/dev/null && continue
  image_args+=(--image "$ref=$(digest_of "$ref")")
done < <(jq -r '.[]' <<<"$refs" | LC_ALL=C sort -u)

mkdir -p "$out"
released="$out/docker-compose.release.yaml"
services=$("${tee_verify[@]}" release-compose "$compose" --env "$env_file" "${secret_args[@]}" "${image_args[@]}" --pin-to "$released") \
  || { echo "release refused" >&2; exit 1; }
cp "$env_file" "$out/release.env"

if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  resolved=$(app_compose_resolve "$released" "$(cd "$(dirname "$compose")" && pwd)" "$out/release.env" "" "${secrets[@]}") || { echo "release refused" >&2; exit 1; }
  if [[ $(jq -S . <<<"$resolved") != "$(jq -S . <<<"$services")" ]]; then
    echo "Compose resolves $(jq -c . <<<"$resolved"), the launch's reader $(jq -c . <<<"$services"): release refused" >&2
    exit 1
  fi
else
  echo "release: no docker compose here; the images come from the .NET reading alone (the launch compares Compose's model with the manifest)" >&2
fi

access="profile=locked ssh=off extensions=off"
events=$(app_release_events "$released" "$out/release.env" "$access" "$services")
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
  --arg created "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson services "$services" \
  --argjson secrets "$(printf '%s\n' "${secrets[@]}" | jq -R . | jq -sc 'map(select(length > 0))')" \
  '{version: 1, created: $created,
    compose_sha256: $compose, config_sha256: $config,
    services: $services,
    secret_variables: $secrets,
    images: [.[] | select(.type == "image") | .data],
    interactive_access: (.[] | select(.type == "interactive_access") | .data),
    app_pcr: {index: $pcr, sha256: $value},
    events: .}' >"$out/release-manifest.json"
echo "release: $out/release-manifest.json (PCR $pcr = $value)"
