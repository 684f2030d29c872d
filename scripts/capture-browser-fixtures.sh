#!/usr/bin/env bash
# Captures what the browser module's tests verify, from a running stack
# (scripts/local-stack.sh up --fake-ollama --swtpm): a nonce-bound report (with its key set), a
# chat request and response exactly as sent and received with the x-answer-nonce sent, and that
# completion's signature (PROTOCOL.md "Answer statement").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GATEWAY=${1:-http://127.0.0.1:${TEE_GATEWAY_PORT:-8080}}
OUT=$ROOT/clients/browser/test/fixtures
MASTER=${TEE_MASTER_KEY:-$(cat "$ROOT/.run/master-key")}
ADMIN=${TEE_ADMIN_URL:-http://127.0.0.1:${TEE_ADMIN_PORT:-8081}} # the admin listener, not the public port
mkdir -p "$OUT"
nonce=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
curl -fsS "$GATEWAY/attestation?nonce=$nonce" >"$OUT/report.json"
printf '%s' "$nonce" >"$OUT/report.nonce"
key=$(curl -fsS "$ADMIN/admin/keys" -H "Authorization: Bearer $MASTER" -H 'content-type: application/json' -d '{"name":"fixtures"}' \
  | python3 -c 'import json,sys;print(json.load(sys.stdin)["key"])')
printf '%s' '{"model":"deepseek-r1","stream":true,"messages":[{"role":"user","content":"fixture for the browser verifier"}]}' >"$OUT/chat.request"
answer_nonce=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$answer_nonce" >"$OUT/chat.nonce"
curl -fsS -N "$GATEWAY/v1/chat/completions" -H "Authorization: Bearer $key" -H 'content-type: application/json' \
  -H "x-answer-nonce: $answer_nonce" \
  --data-binary @"$OUT/chat.request" >"$OUT/chat.response"
id=$(head -n1 "$OUT/chat.response" | sed 's/^data: //' | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
sleep 0.5
curl -fsS "$GATEWAY/v1/signature/$id" -H "Authorization: Bearer $key" >"$OUT/chat.signature.json"
echo "captured report, chat and signature ($id) in $OUT"
