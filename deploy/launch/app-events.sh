#!/usr/bin/env bash
# Shared by measured-launch.sh, app-watch.sh and scripts/release.sh (sourced, never run): the one
# definition of the app event log (Attestation.Verifier/PROTOCOL.md "App event log").
#   digest(event) = SHA-256("tee-aspire/app-event/v1\n" ‖ type ‖ "\n" ‖ data)
#   PCR_new       = SHA-256(PCR_old ‖ digest), from 32 zero bytes
# data is printable ASCII (0x20–0x7E), at most 512 bytes; type is one of compose, image, config,
# interactive_access, unexpected.

APP_EVENT_PREFIX='tee-aspire/app-event/v1'
APP_PCR_ZERO=0000000000000000000000000000000000000000000000000000000000000000

# app_event_digest TYPE DATA → lowercase hex digest
app_event_digest() {
  printf '%s\n%s\n%s' "$APP_EVENT_PREFIX" "$1" "$2" | sha256sum | cut -d' ' -f1
}

# app_pcr_extend OLD_HEX DIGEST_HEX → new PCR value (hex)
app_pcr_extend() {
  printf '%s%s' "$1" "$2" | xxd -r -p | sha256sum | cut -d' ' -f1
}

# app_event_check_data DATA: refuses anything but printable ASCII up to 512 bytes.
app_event_check_data() {
  local data=$1
  if ((${#data} > 512)) || [[ $data == *$'\n'* ]] || LC_ALL=C grep -q '[^ -~]' <<<"$data"; then
    echo "app event data must be printable ASCII of at most 512 bytes: $data" >&2
    return 1
  fi
}

# app_event_line INDEX TYPE DATA → one JSON line of the event log
app_event_line() {
  app_event_check_data "$3" || return 1
  jq -cn --argjson index "$1" --arg type "$2" --arg data "$3" --arg digest "$(app_event_digest "$2" "$3")" \
    '{index: $index, type: $type, data: $data, digest: $digest}'
}

# app_log_replay LOG → the PCR value the log's digests replay to (zero for an absent/empty log)
app_log_replay() {
  local pcr=$APP_PCR_ZERO digest
  if [[ -s $1 ]]; then
    while read -r digest; do
      pcr=$(app_pcr_extend "$pcr" "$digest")
    done < <(jq -r '.digest' "$1")
  fi
  echo "$pcr"
}

# app_config_canonical ENV_FILE → the canonical non-secret configuration: lines that are neither
# empty nor comments, CR stripped, sorted by byte order, duplicates removed, each ending in \n.
app_config_canonical() {
  tr -d '\r' <"$1" | grep -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' | LC_ALL=C sort -u
}

app_config_sha256() {
  app_config_canonical "$1" | sha256sum | cut -d' ' -f1
}

# app_compose_images COMPOSE → every `image:` value, one a line (each newline-terminated, also the
# last: a file without a final newline must not hide its last image from `while read`), in file order.
# An `image:` line of any other shape (flow mappings, anchors) is refused rather than skipped, and so
# are `build:`, `extends:` and `include:` — they would start software the image events do not name.
app_compose_images() {
  if grep -qE '^[[:space:]]*(build|extends|include):' "$1"; then
    echo "$1 uses build:, extends: or include:: a release names every image by digest in one file" >&2
    return 1
  fi
  if grep -E '(^|[[:space:]{,])image:' "$1" | grep -vqE '^[[:space:]]*image:[[:space:]]*["'\'']?[^"'\''[:space:]]+["'\'']?[[:space:]]*$'; then
    echo "an image: line of $1 is not of the form 'image: <reference>'" >&2
    return 1
  fi
  sed -n -E 's/^[[:space:]]*image:[[:space:]]*["'\'']?([^"'\''[:space:]]+)["'\'']?[[:space:]]*$/\1/p' "$1" | awk 1
}

# app_image_digest REF → sha256:<hex> if REF is pinned by digest (name@sha256:<64 hex>), else fails
app_image_digest() {
  if [[ $1 =~ @(sha256:[0-9a-f]{64})$ ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    return 1
  fi
}

# app_release_digests COMPOSE → the sorted, unique image digests; fails naming any unpinned image
app_release_digests() {
  local ref refs digests=() bad=0
  refs=$(app_compose_images "$1") || return 1
  while read -r ref; do
    [[ -n $ref ]] || continue
    if digest=$(app_image_digest "$ref"); then digests+=("$digest"); else echo "image not pinned by digest: $ref" >&2; bad=1; fi
  done <<<"$refs"
  ((bad == 0)) || return 1
  ((${#digests[@]} > 0)) || { echo "no images in $1" >&2; return 1; }
  printf '%s\n' "${digests[@]}" | LC_ALL=C sort -u
}

# app_release_events COMPOSE ENV_FILE ACCESS → the launch's events as "type<TAB>data" lines, in order
app_release_events() {
  local digests
  digests=$(app_release_digests "$1") || return 1
  printf 'compose\t%s\n' "$(sha256sum <"$1" | cut -d' ' -f1)"
  while read -r d; do printf 'image\t%s\n' "$d"; done <<<"$digests"
  printf 'config\t%s\n' "$(app_config_sha256 "$2")"
  printf 'interactive_access\t%s\n' "$3"
}
