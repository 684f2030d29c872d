#!/usr/bin/env bash
# Writes reports/swtpm.json: reports/software-tpm.json with its TPM quote replaced by one a real
# software TPM (swtpm + tpm2-tools, as the local stack runs them) made over PCRs 0-23 with
# extraData = SHA-256(nonce ‖ key-set digest). VERIFIED only with allow_insecure_platform.
#   tests/vectors/capture-swtpm.sh [port]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${1:-20305}
WORK=$(mktemp -d)
trap 'kill "$(cat "$WORK/pid")" 2>/dev/null || true; rm -rf "$WORK"' EXIT
swtpm socket --tpm2 --server type=tcp,port=$PORT,bindaddr=127.0.0.1 --ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 \
  --tpmstate dir="$WORK" --flags not-need-init,startup-clear & echo $! > "$WORK/pid"
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$PORT"
for _ in $(seq 50); do tpm2_getrandom 1 >/dev/null 2>&1 && break; sleep 0.1; done
cd "$WORK"
tpm2_createprimary -C o -G rsa2048:rsassa-sha256:null -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign" -c ak.ctx >/dev/null
tpm2_evictcontrol -C o -c ak.ctx 0x81000003 >/dev/null
tpm2_flushcontext -t
tpm2_readpublic -c 0x81000003 -f der -o ak.der >/dev/null
EXTRA=$(python3 - "$HERE/reports/software-tpm.json" <<'PY'
import base64, hashlib, json, sys
r = json.load(open(sys.argv[1]))
lines = sorted({f"{k['purpose']} {k['alg']} {base64.b64encode(base64.b64decode(k['public_key'])).decode()}\n" for k in r["key_set"]["keys"]})
digest = hashlib.sha256(("tee-aspire/key-set/v1\n" + "".join(lines)).encode()).digest()
print(hashlib.sha256(bytes.fromhex(r["nonce"]) + digest).hexdigest())
PY
)
tpm2_quote -c 0x81000003 -l sha256:$(seq -s, 0 23) -q "$EXTRA" -m msg -s sig -f plain -g sha256 -o pcrs.bin > quote.yaml
python3 - "$HERE/reports/software-tpm.json" "$HERE/reports/swtpm.json" <<'PY'
import base64, json, re, sys
r = json.load(open(sys.argv[1]))
pcrs = {m[0]: "%064x" % int(m[1], 16) for m in re.findall(r"^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)", open("quote.yaml").read(), re.M)}
q = r["evidence"]["tpm_quote"]
q.update({"message": base64.b64encode(open("msg", "rb").read()).decode(), "signature": base64.b64encode(open("sig", "rb").read()).decode(),
          "ak_public": base64.b64encode(open("ak.der", "rb").read()).decode(), "pcrs": {"sha256": pcrs}})
q.pop("extra_data", None)
json.dump(r, open(sys.argv[2], "w"), indent=1)
PY
echo "wrote $HERE/reports/swtpm.json"
