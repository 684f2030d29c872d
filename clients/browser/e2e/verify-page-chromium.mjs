// The verification page (dist/verify-page.html, page/build.mjs) against the running stack, in
// headless Debian Chromium, served by a static host of its own (http://127.0.0.1:PAGE_PORT, the
// origin the gateway's CORS policy allows) — never by the service. It verifies the gateway with a
// fresh nonce (swtpm: REFUSED without the insecure box, INSECURE with it), with a release manifest
// the stack does not run (REFUSED: a policy mismatch), chats sealed with an API key, saves the
// evidence files, and records every request the page makes. Run by tests/EndToEnd.Tests
// (VerificationPageTests), which re-verifies the saved files with `tee-verify report-file`:
//   GATEWAY_URL, TEE_KEY, PAGE_PORT, OUT_DIR (where the evidence files go), MANIFEST (a release manifest), CANARY
// Prints one JSON line `RESULT {...}` and exits 0 when every assertion holds.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPage } from '../page/build.mjs';
import { launchChromium, openPage, verifyLive, downloadEvidence } from '../page/drive.mjs';

const gateway = process.env.GATEWAY_URL;
const key = process.env.TEE_KEY;
const port = Number(process.env.PAGE_PORT);
const out = process.env.OUT_DIR;
const manifest = process.env.MANIFEST;
const canary = process.env.CANARY ?? 'zqxpagecanary';
assert.ok(gateway && key && port && out && manifest, 'GATEWAY_URL, TEE_KEY, PAGE_PORT, OUT_DIR and MANIFEST are required');

const html = readFileSync(await buildPage());
const host = createServer((req, res) => {
  if (req.url === '/' || req.url === '/verify-page.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    return res.end(html);
  }
  res.writeHead(404);
  return res.end();
});
await new Promise((ok) => host.listen(port, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${port}`;
const chromium = await launchChromium();
let exit = 1;
try {
  const p = await openPage(chromium.context, { url: `${origin}/` });
  const { page } = p;
  const strict = await verifyLive(page, gateway, { insecure: false });
  const insecure = await verifyLive(page, gateway, { insecure: true });
  await downloadEvidence(page, join(out, 'insecure.evidence.json'));
  const mismatch = await verifyLive(page, gateway, { insecure: true, policyFile: manifest });
  const policyStatus = await page.locator('#policy-status').innerText();
  await downloadEvidence(page, join(out, 'mismatch.evidence.json'));

  // The sealed test chat (after a verification without policy, as a customer would try it).
  await verifyLive(page, gateway, { insecure: true });
  await page.fill('#api-key', key);
  await page.fill('#prompt', `hello ${canary}`);
  await page.click('#chat');
  await page.waitForFunction(() => document.getElementById('chat-verdict').textContent !== '', null, { timeout: 120_000 });
  const chat = await page.evaluate(() => ({
    verdict: document.getElementById('chat-verdict').textContent,
    answer: document.getElementById('chat-answer').textContent,
    checks: [...document.querySelectorAll('#chat-checks li')].map((li) => li.textContent),
  }));
  const gatewayOrigin = new URL(gateway).origin;
  const outside = p.requests.filter((r) => !r.startsWith(`${origin}/`) && !r.startsWith(`${gatewayOrigin}/`));
  const result = {
    strict: { verdict: strict.verdict, why: strict.why }, insecure: { verdict: insecure.verdict, rows: insecure.rows },
    mismatch: { verdict: mismatch.verdict, why: mismatch.why, rows: mismatch.rows }, policyStatus, chat,
    requests: p.requests.map((r) => r.replace(/nonce=[0-9a-f]+/, 'nonce=…')), outside, errors: p.errors, failed: p.failed,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
  assert.deepEqual(p.errors, []);
  // The one HTTP error expected: the signature asked for as the answer ends, before it is stored (asked again).
  assert.deepEqual(p.failed.filter((f) => !/^404 .*\/v1\/signature\/chatcmpl-/.test(f)), []);
  assert.equal(strict.verdict, 'REFUSED');
  assert.match(strict.why, /first failed check: platform/);
  assert.equal(insecure.verdict, 'INSECURE');
  assert.equal(insecure.rows.keys, 'passed');
  assert.equal(insecure.rows.freshness, 'passed');
  assert.equal(insecure.rows.hardware, 'insecure');
  assert.match(policyStatus, /release manifest, made into its policy here/);
  assert.equal(mismatch.verdict, 'REFUSED');
  assert.match(mismatch.why, /first failed check: policy\.pcr13/);
  assert.equal(mismatch.rows.release, 'failed');
  assert.match(chat.verdict, /^SIGNED — INSECURE platform: sealed to the attested key [0-9a-f]{16}…, its signature verifies/);
  assert.match(chat.answer, new RegExp(canary));
  assert.ok(chat.checks.some((c) => c.startsWith('PASS answer.signature')), chat.checks.join('\n'));
  assert.deepEqual(outside, [], 'the page fetched something other than the service and its own host');
  assert.ok(p.requests.some((r) => r.startsWith(`${gatewayOrigin}/attestation?nonce=`)));
  assert.ok(p.requests.some((r) => r === `${gatewayOrigin}/v1/chat/completions`), 'the chat went to the service');
  exit = 0;
} finally {
  await chromium.close();
  host.close();
}
process.exit(exit);
