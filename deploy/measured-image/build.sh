#!/usr/bin/env bash
# Builds, without root, the verified part of the measured guest image (deploy/MEASURED-IMAGE.md):
# an ext4 file system holding the launch scripts, their units and the release (/opt/teeaspire,
# /etc/systemd/system), its dm-verity hash tree and root hash, the kernel command line that pins
# the root hash, and the PCR 11 values systemd-stub and systemd-pcrphase would produce for a UKI
# of that kernel, initrd and command line — the values a customer's policy pins.
#
#   deploy/measured-image/build.sh [--release DIR] [--launch DIR] --linux FILE [--initrd FILE] [-o DIR]
#
# Reproducible: the same inputs give the same bytes (fixed UUIDs, hash seed, salt and times from
# SOURCE_DATE_EPOCH, default 1700000000; 128-byte inodes, which carry no creation time). --release
# is a scripts/release.sh output folder; --launch the launch scripts' folder (default deploy/launch). --linux is the kernel of the UKI; the build machines have
# none to boot, so the tests pass a stand-in and check the chain (file system → root hash → command
# line → PCR 11), not a bootable image. Writes DIR/teeaspire.img, teeaspire.verity, cmdline, os-release
# and measurements.json.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
release=""
launch=$ROOT/deploy/launch
linux=""
initrd=""
out=out/measured-image
while (($#)); do
  case $1 in
    --release) release=$2; shift 2 ;;
    --launch) launch=$2; shift 2 ;;
    --linux) linux=$2; shift 2 ;;
    --initrd) initrd=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ -f $linux ]] || { echo "usage: $0 [--release DIR] --linux FILE [--initrd FILE] [-o DIR]" >&2; exit 2; }
measure=/usr/lib/systemd/systemd-measure
for tool in mkfs.ext4 debugfs veritysetup "$measure" jq; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || { echo "missing $tool (scripts/prereqs.sh image)" >&2; exit 1; }
done
epoch=${SOURCE_DATE_EPOCH:-1700000000}
# Fixed identities: a file system's UUIDs and salt are inputs of its bytes and so of the root hash.
fs_uuid=7ee45a1e-0000-4000-8000-000000000001
hash_seed=7ee45a1e-0000-4000-8000-000000000002
verity_uuid=7ee45a1e-0000-4000-8000-000000000003
salt=$(printf 'tee-aspire/measured-image/v1' | sha256sum | cut -d' ' -f1)

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -d "$stage/opt/teeaspire/launch" "$stage/opt/teeaspire/compose" "$stage/etc/systemd/system"
install -m 0755 "$launch/app-events.sh" "$launch/measured-launch.sh" "$launch/app-watch.sh" "$stage/opt/teeaspire/launch/"
install -m 0644 "$launch/tee-aspire-launch.service" "$launch/tee-aspire-watch.service" "$stage/etc/systemd/system/"
if [[ -n $release ]]; then
  install -m 0644 "$release/docker-compose.release.yaml" "$stage/opt/teeaspire/compose/docker-compose.yaml"
  install -m 0644 "$release/release.env" "$release/release-manifest.json" "$stage/opt/teeaspire/compose/"
fi
find "$stage" -exec touch -h -d "@$epoch" {} +

rm -f "$out/teeaspire.img" "$out/teeaspire.verity"
SOURCE_DATE_EPOCH=$epoch E2FSPROGS_FAKE_TIME=$epoch mkfs.ext4 -q -F -b 4096 -I 128 -L teeaspire -U "$fs_uuid" \
  -E "hash_seed=$hash_seed,root_owner=0:0,lazy_itable_init=0,nodiscard" -O ^has_journal -d "$stage" "$out/teeaspire.img" 16M 2>&1 |
  { grep -v -e '128-byte inodes cannot handle dates beyond 2038' -e '^Creating regular file' -e '^$' || true; } >&2
# mkfs copies each file's atime and ctime (when it was read, when it was staged): set every inode's
# times to the epoch, so the bytes depend on the contents alone.
(cd "$stage" && find . -mindepth 1 -printf '%P\n') | LC_ALL=C sort | while read -r path; do
  for field in atime ctime mtime; do printf 'sif "/%s" %s @%s\n' "$path" "$field" "$epoch"; done
done >"$stage.debugfs"
for field in atime ctime mtime; do printf 'sif / %s @%s\n' "$field" "$epoch"; done >>"$stage.debugfs"
E2FSPROGS_FAKE_TIME=$epoch debugfs -w -f "$stage.debugfs" "$out/teeaspire.img" >/dev/null 2>&1
rm -f "$stage.debugfs"
root_hash=$(veritysetup format --data-block-size=4096 --hash-block-size=4096 --salt="$salt" --uuid="$verity_uuid" \
  "$out/teeaspire.img" "$out/teeaspire.verity" | sed -n -E 's/^Root hash:[[:space:]]*([0-9a-f]{64})$/\1/p')
[[ $root_hash =~ ^[0-9a-f]{64}$ ]] || { echo "veritysetup gave no root hash" >&2; exit 1; }

# systemd-veritysetup-generator opens /opt/teeaspire's partition by these before anything runs.
printf 'ro systemd.verity=yes roothash=%s systemd.verity_root_data=PARTLABEL=teeaspire-root systemd.verity_root_hash=PARTLABEL=teeaspire-verity systemd.verity_root_options=panic-on-corruption\n' "$root_hash" >"$out/cmdline"
printf 'ID=teeaspire\nIMAGE_ID=teeaspire-measured\nIMAGE_VERSION=%s\n' "$(sha256sum <"$out/teeaspire.img" | cut -c1-12)" >"$out/os-release"
args=(--linux="$linux" --osrel="$out/os-release" --cmdline="$out/cmdline")
[[ -n $initrd ]] && args+=(--initrd="$initrd")
pcr11=$("$measure" calculate "${args[@]}" --bank=sha256 --json=short)
jq -n --arg root_hash "$root_hash" --arg data "$(sha256sum <"$out/teeaspire.img" | cut -d' ' -f1)" \
  --arg cmdline "$(cat "$out/cmdline")" --argjson pcr11 "$pcr11" \
  '{root_hash: $root_hash, data_sha256: $data, cmdline: $cmdline,
    pcr11: ($pcr11.sha256 | map({(.phase): .hash}) | add),
    policy: {pcrs: {"11": ($pcr11.sha256 | map(select(.phase | endswith(":ready"))) | .[0].hash)}}}' >"$out/measurements.json"
echo "measured image: root hash $root_hash, PCR 11 (ready) $(jq -r '.policy.pcrs["11"]' "$out/measurements.json")"
