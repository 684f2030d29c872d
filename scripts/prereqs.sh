#!/usr/bin/env bash
# The Debian packages each of the README's commands needs, installed when this machine allows it.
#
#   scripts/prereqs.sh run [--swtpm]   scripts/local-stack.sh: redis-server (+ swtpm, tpm2-tools)
#   scripts/prereqs.sh test            scripts/test.sh: the above, shellcheck, yamllint, chromium, node/npm, e2fsprogs, cryptsetup-bin, systemd (measured image)
#   scripts/prereqs.sh bench           bench/run.sh: the run set, nginx, wrk, node/npm (the peer gateway)
#   scripts/prereqs.sh --check PROFILE only say what is missing (exit 1 if anything is)
#
# Missing packages are installed with apt-get when we are root, or through sudo when it needs no
# password (`apt-get update` once first). Otherwise it prints the one command to run and exits 1.
# The .NET SDK is not an apt package here: without `dotnet` it says where to get it.
set -euo pipefail

check_only=false
if [[ ${1:-} == --check ]]; then check_only=true; shift; fi
profile=${1:-}
shift || true
swtpm=false
for a in "$@"; do [[ $a == --swtpm ]] && swtpm=true; done

# program:package — a program found on PATH (or in /usr/sbin) means its package is there.
run=(redis-server:redis-server curl:curl)
tpm=(swtpm:swtpm swtpm_setup:swtpm-tools tpm2_quote:tpm2-tools)
# deploy/measured-image/build.sh and its tests: ext4 without root, dm-verity, UKI PCR values.
image=(mkfs.ext4:e2fsprogs debugfs:e2fsprogs veritysetup:cryptsetup-bin /usr/lib/systemd/systemd-measure:systemd jq:jq)
case $profile in
  run) wanted=("${run[@]}"); $swtpm && wanted+=("${tpm[@]}") ;;
  test) wanted=("${run[@]}" "${tpm[@]}" shellcheck:shellcheck yamllint:yamllint chromium:chromium node:nodejs npm:npm "${image[@]}") ;;
  bench) wanted=("${run[@]}" "${tpm[@]}" nginx:nginx wrk:wrk node:nodejs npm:npm) ;;
  *) echo "usage: scripts/prereqs.sh [--check] run [--swtpm] | test | bench" >&2; exit 2 ;;
esac

if ! command -v dotnet >/dev/null 2>&1; then
  echo "prereqs: the .NET 10 SDK is missing ('dotnet' is not on PATH). Install it from https://dot.net/download (or: sudo apt-get install -y dotnet-sdk-10.0 where Microsoft's package feed is set up)." >&2
  exit 1
fi

missing=()
for pair in "${wanted[@]}"; do
  prog=${pair%%:*} pkg=${pair#*:}
  command -v "$prog" >/dev/null 2>&1 || [[ -x /usr/sbin/$prog ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

command_line="sudo apt-get update && sudo apt-get install -y ${missing[*]}"
if $check_only; then
  echo "prereqs: missing ${missing[*]}. Install with: $command_line" >&2
  exit 1
fi
if [[ $(id -u) == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "prereqs: this needs ${missing[*]}, and installing them needs root. Run once: $command_line" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "prereqs: this needs ${missing[*]} (Debian/Ubuntu package names); there is no apt-get here, install them with your package manager" >&2
  exit 1
fi
echo "prereqs: installing ${missing[*]} (apt-get)…" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >&2 || { echo "prereqs: apt-get update failed. Run: $command_line" >&2; exit 1; }
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { echo "prereqs: apt-get install failed. Run: $command_line" >&2; exit 1; }
still=()
for pair in "${wanted[@]}"; do
  prog=${pair%%:*} pkg=${pair#*:}
  command -v "$prog" >/dev/null 2>&1 || [[ -x /usr/sbin/$prog ]] || still+=("$pkg")
done
if ((${#still[@]})); then
  echo "prereqs: still missing after the install: ${still[*]}" >&2
  exit 1
fi
echo "prereqs: installed ${missing[*]}" >&2
