#!/usr/bin/env bash
# Checks what can be checked without Azure or Terraform: shell scripts (shellcheck), YAML
# (yamllint), the cloud-init template rendering, and the Terraform files' structure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
status=0
if command -v shellcheck >/dev/null; then
  shellcheck -x -S warning scripts/*.sh scripts/tee-verify bench/run.sh .ci/run deploy/validate.sh deploy/launch/*.sh && echo "shellcheck: ok" || status=1
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
import base64
b64 = lambda path: base64.b64encode(open(path, "rb").read()).decode()
values = {"admin_username": "teeadmin", "cloudflare_tunnel_token": "TOKEN", "access_profile": "locked", "app_pcr": "13",
          "launch_events_b64": b64("deploy/launch/app-events.sh"), "launch_sh_b64": b64("deploy/launch/measured-launch.sh"),
          "watch_sh_b64": b64("deploy/launch/app-watch.sh"), "launch_unit_b64": b64("deploy/launch/tee-aspire-launch.service"),
          "watch_unit_b64": b64("deploy/launch/tee-aspire-watch.service"), "compose_b64": "", "release_env_b64": "", "manifest_b64": "", "secrets_env_b64": ""}
rendered = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: values[m.group(1)], text).replace("$${", "${")
doc = yaml.safe_load(rendered)
assert rendered.startswith("#cloud-config"), "cloud-init needs the #cloud-config header"
for key in ("packages", "runcmd", "write_files"):
    assert key in doc, f"cloud-init: {key} missing"
assert "docker.io" in doc["packages"] and "tpm2-tools" in doc["packages"]
files = {f["path"]: f for f in doc["write_files"]}
launch = base64.b64decode(files["/opt/teeaspire/launch/measured-launch.sh"]["content"]).decode()
assert launch == open("deploy/launch/measured-launch.sh").read(), "the launch script must arrive byte for byte"
assert files["/etc/tee-aspire/access-profile"]["content"] == "locked\n"
assert not any("docker" in c and "usermod" in c and "debug" not in c for c in doc["runcmd"] if isinstance(c, str)), "the admin gets the docker group only in the debug profile"
print("cloud-init template: ok")
PY
python3 - <<'PY' || status=1
import glob, re
src = "\n".join(open(f).read() for f in glob.glob("deploy/terraform/*.tf"))
assert src.count("{") == src.count("}"), "unbalanced braces in the Terraform files"
declared = set(re.findall(r'variable "(\w+)"', src))
used = set(re.findall(r"var\.(\w+)", src))
assert used <= declared, f"undeclared variables: {used - declared}"
for needed in ("vtpm_enabled        = true", "secure_boot_enabled = true", "security_encryption_type", "22_04-lts-cvm",
               "allow_extension_operations = local.debug", 'default     = "locked"'):
    assert needed in src, f"missing: {needed}"
print(f"terraform structure: ok ({len(declared)} variables, all used ones declared)")
PY
exit $status
