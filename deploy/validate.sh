#!/usr/bin/env bash
# Checks what can be checked without Azure or Terraform: shell scripts (shellcheck), YAML
# (yamllint), the cloud-init template rendering, and the Terraform files' structure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
status=0
if command -v shellcheck >/dev/null; then
  shellcheck -S warning scripts/*.sh scripts/tee-verify bench/run.sh .ci/run deploy/validate.sh && echo "shellcheck: ok" || status=1
else
  echo "shellcheck missing: apt-get install -y shellcheck" >&2; status=1
fi
if command -v yamllint >/dev/null; then
  yamllint -d '{extends: relaxed, rules: {line-length: {max: 200}}}' deploy/cloud-init.yaml && echo "yamllint: ok" || status=1
else
  echo "yamllint missing: apt-get install -y yamllint" >&2; status=1
fi
python3 - <<'PY' || status=1
import re, sys, yaml
text = open("deploy/cloud-init.yaml").read()
# Render as Terraform's templatefile would: ${var} filled, $${x} becomes ${x}.
rendered = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: {"admin_username": "teeadmin", "cloudflare_tunnel_token": "TOKEN"}[m.group(1)], text).replace("$${", "${")
doc = yaml.safe_load(rendered)
assert rendered.startswith("#cloud-config"), "cloud-init needs the #cloud-config header"
for key in ("packages", "runcmd", "write_files"):
    assert key in doc, f"cloud-init: {key} missing"
assert "docker.io" in doc["packages"] and "tpm2-tools" in doc["packages"]
print("cloud-init template: ok")
PY
python3 - <<'PY' || status=1
import glob, re
src = "\n".join(open(f).read() for f in glob.glob("deploy/terraform/*.tf"))
assert src.count("{") == src.count("}"), "unbalanced braces in the Terraform files"
declared = set(re.findall(r'variable "(\w+)"', src))
used = set(re.findall(r"var\.(\w+)", src))
assert used <= declared, f"undeclared variables: {used - declared}"
for needed in ("vtpm_enabled        = true", "secure_boot_enabled = true", "security_encryption_type", "22_04-lts-cvm"):
    assert needed in src, f"missing: {needed}"
print(f"terraform structure: ok ({len(declared)} variables, all used ones declared)")
PY
exit $status
