#!/usr/bin/env bash
# Shared by measured-launch.sh, app-watch.sh and scripts/release.sh (sourced, never run): the one
# definition of the app event log (Attestation.Verifier/PROTOCOL.md "App event log").
#   digest(event) = SHA-256("tee-aspire/app-event/v1\n" ‖ type ‖ "\n" ‖ data)
#   PCR_new       = SHA-256(PCR_old ‖ digest), from 32 zero bytes
# data is printable ASCII (0x20–0x7E), at most 512 bytes; type is one of compose, image, config,
# interactive_access, unexpected.
#
# Which software a release runs is read from Compose's own resolved model (`docker compose config
# --format json`), never from lines of YAML: app_compose_resolve below. The .NET reader
# (Attestation.Verifier/ComposeRelease.cs, `tee-verify release-compose`) applies the same rule where
# there is no container engine (release.sh, `tee-verify policy from-release`), and wherever both run
# the two must agree service by service.

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

# app_image_digest REF → sha256:<hex> if REF is pinned by digest (name@sha256:<64 hex>), else fails
app_image_digest() {
  if [[ $1 =~ @(sha256:[0-9a-f]{64})$ ]]; then
    echo "${BASH_REMATCH[1]}"
  else
    return 1
  fi
}

# app_release_digests SERVICES_JSON → the sorted, unique image digests of a {service: image} map
app_release_digests() {
  jq -r '.[]' <<<"$1" | sed -E 's/.*@//' | LC_ALL=C sort -u
}

# app_release_events COMPOSE ENV_FILE ACCESS SERVICES_JSON → the launch's events as "type<TAB>data"
# lines, in order. SERVICES_JSON is what app_compose_resolve (or the .NET reader) gave.
app_release_events() {
  local digests
  digests=$(app_release_digests "$4") || return 1
  [[ -n $digests ]] || { echo "no images in $1" >&2; return 1; }
  printf 'compose\t%s\n' "$(sha256sum <"$1" | cut -d' ' -f1)"
  while read -r d; do printf 'image\t%s\n' "$d"; done <<<"$digests"
  printf 'config\t%s\n' "$(app_config_sha256 "$2")"
  printf 'interactive_access\t%s\n' "$3"
}

# app_env_check ENV_FILE: release.env by the strict rule ComposeRelease.TryReadEnvFile applies —
# NAME=value lines, comments and blank lines only; no quotes, $, backslashes, inline comments or
# surrounding blanks (forms Compose would rewrite or interpolate), no name twice, no COMPOSE_* or
# DOCKER_* (they change Compose itself).
app_env_check() {
  local line name value n=0 seen=" "
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*$ || $line =~ ^[[:space:]]*# ]] && continue
    if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$ ]]; then echo "$1 line $n: not NAME=value" >&2; return 1; fi
    name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    if [[ $value =~ [\"\'\`\$\\] || $value =~ ^[[:space:]] || $value =~ [[:space:]]$ || $value =~ [[:space:]]# ]] || LC_ALL=C grep -q '[^ -~]' <<<"$value"; then
      echo "$1 line $n ($name): quotes, \$, backslashes, inline comments, blanks around the value and non-ASCII are not allowed (Compose would rewrite the value)" >&2; return 1
    fi
    if [[ $name == COMPOSE_* || $name == DOCKER_* ]]; then echo "$1 line $n: $name changes Compose itself, not the application" >&2; return 1; fi
    if [[ $seen == *" $name "* ]]; then echo "$1 line $n: $name is set twice" >&2; return 1; fi
    seen+="$name "
  done <"$1"
}

# app_secrets_check SECRETS_FILE ENV_FILE NAME...: the secrets file sets only the named secret
# variables (never one release.env sets), each once, as NAME=value with a value of token characters
# (no quotes, $, blanks or #: nothing Compose would interpolate or rewrite).
app_secrets_check() {
  local file=$1 env_file=$2 line name n=0 seen=" "
  shift 2
  local names=" $* "
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*$ || $line =~ ^[[:space:]]*# ]] && continue
    if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9._~+/=:@%,-]*)$ ]]; then
      echo "secrets file line $n: not SECRET_NAME=<token characters> (no quotes, \$, blanks or #)" >&2; return 1
    fi
    name=${BASH_REMATCH[1]}
    if [[ $names != *" $name "* ]]; then echo "secrets file line $n: $name is not a secret variable of the release (secrets: $*): it would change what Compose runs without being measured" >&2; return 1; fi
    if [[ $seen == *" $name "* ]]; then echo "secrets file line $n: $name is set twice" >&2; return 1; fi
    seen+="$name "
  done <"$file"
  for name in "$@"; do
    if grep -qE "^[[:space:]]*${name//./\\.}=" "$env_file"; then echo "$name is a secret variable and release.env sets it" >&2; return 1; fi
  done
}

# app_compose_config COMPOSE PROJECT_DIR ENV_FILE [SECRETS_FILE] → Compose's resolved model (JSON).
# Compose runs with an empty environment but PATH: the unit's or the caller's variables would
# otherwise win over both files (Compose's precedence) and change what runs, unmeasured.
app_compose_config() {
  local args=(-f "$1" --project-directory "$2" --env-file "$3")
  [[ -n ${4:-} ]] && args+=(--env-file "$4")
  env -i PATH="$PATH" docker compose "${args[@]}" config --format json
}

# app_model_services MODEL_JSON → {service: image} from Compose's model; refuses a build, a service
# without an image, an image not pinned by digest.
app_model_services() {
  jq -ce '
    if (.services | type) != "object" or (.services | length) == 0 then error("Compose resolved no services") else . end
    | .services | to_entries
    | map(if .value.build != null then error("service \(.key) uses build: a release names every image by digest")
          elif (.value.image | type) != "string" then error("service \(.key) has no image")
          elif (.value.image | test("^[A-Za-z0-9][A-Za-z0-9._:/-]*@sha256:[0-9a-f]{64}\\z") | not) then error("image not pinned by digest: \(.value.image) (service \(.key))")
          else {key, value: .value.image} end)
    | from_entries' <<<"$1"
}

APP_SECRET_PLACEHOLDER=tee-aspire-secret-placeholder

# app_compose_resolve COMPOSE PROJECT_DIR ENV_FILE SECRETS_FILE|"" NAME... → {service: image}, as
# Compose resolves it. Refuses (exit 1, a reason on stderr) anything unmeasured that could change
# it: a release.env or secrets file outside the strict rules, and any difference between the model
# with the real secrets and the model with every secret replaced by a placeholder other than in a
# service's `environment` (secrets may set a container's environment, nothing else).
app_compose_resolve() {
  local compose=$1 dir=$2 env_file=$3 secrets=$4 model placeholder tmp name
  shift 4
  app_env_check "$env_file" || return 1
  tmp=$(mktemp)
  for name in "$@"; do printf '%s=%s\n' "$name" "$APP_SECRET_PLACEHOLDER" >>"$tmp"; done
  if ! placeholder=$(app_compose_config "$compose" "$dir" "$env_file" "$tmp"); then
    rm -f "$tmp"; echo "Compose cannot read $compose" >&2; return 1
  fi
  rm -f "$tmp"
  if [[ -n $secrets ]]; then
    app_secrets_check "$secrets" "$env_file" "$@" || return 1
    model=$(app_compose_config "$compose" "$dir" "$env_file" "$secrets") || { echo "Compose cannot read $compose with the secrets" >&2; return 1; }
    if [[ $(jq -S 'del(.services[]?.environment)' <<<"$model") != "$(jq -S 'del(.services[]?.environment)' <<<"$placeholder")" ]]; then
      echo "the secrets change what Compose runs beyond the containers' environment: refused" >&2; return 1
    fi
  fi
  app_model_services "$placeholder"
}
