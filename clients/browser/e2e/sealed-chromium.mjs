// A small page in headless Debian Chromium that verifies the running stack and chats sealed with
// createSealedClient (the bundle as `npm run build` ships it), non-stream and stream, from its own
// origin (CORS, as an extension or a web app would). Run by tests/EndToEnd.Tests (BrowserSealedTests):
//   GATEWAY_URL, TEE_KEY, PAGE_PORT (the origin the gateway allows), CANARY
// Prints one JSON line `RESULT {...}` and exits 0 when every assertion holds.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.TEE_CHROMIUM ?? '/usr/bin/chromium';
const gateway = process.env.GATEWAY_URL;
const key = process.env.TEE_KEY;
const port = Number(process.env.PAGE_PORT);
const canary = process.env.CANARY ?? 'zqxbrowsercanary';
assert.ok(gateway && key && port, 'GATEWAY_URL, TEE_KEY and PAGE_PORT are required');
assert.ok(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}. Install with: sudo apt-get install -y chromium`);

const bundle = (await esbuild.build({
  entryPoints: [join(here, '..', 'tee-verify.js')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
})).outputFiles[0].contents;

const server = createServer((req, res) => {
  const send = (type, body) => { res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }); res.end(body); };
  if (req.url === '/') return send('text/html', '<!doctype html><meta charset="utf-8"><title>sealed chat</title><body>sealed chat</body>');
  if (req.url === '/tee-verify.bundle.js') return send('text/javascript', bundle);
  res.writeHead(404);
  res.end();
});
await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
const profile = mkdtempSync(join(tmpdir(), 'tee-sealed-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM, headless: true, timeout: 60_000,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let exit = 1;
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  page.setDefaultTimeout(120_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`, { timeout: 60_000 });
  const result = await page.evaluate(async ({ gateway, key, canary }) => {
    const { createSealedClient, AttestationError } = await import('/tee-verify.bundle.js');
    // Record what leaves the page for the chat route: it must carry EHBP's encapsulated key and a
    // body that is not the plain JSON (the ehbp client calls the page's fetch).
    const sent = [];
    const pageFetch = globalThis.fetch;
    globalThis.fetch = async (input, init) => {
      if (input instanceof Request && input.url.endsWith('/v1/chat/completions')) {
        const copy = input.clone();
        const bytes = new Uint8Array(await copy.arrayBuffer());
        sent.push({ encapsulatedKey: input.headers.get('ehbp-encapsulated-key') !== null, plain: new TextDecoder().decode(bytes).includes(canary), length: bytes.length });
      }
      return pageFetch(input, init);
    };
    // The stack runs on swtpm: only the explicit insecure option verifies it (and says INSECURE).
    let refused = null;
    try {
      await createSealedClient(gateway, { apiKey: key });
    } catch (e) {
      refused = { name: e.name, isAttestationError: e instanceof AttestationError, failed: (e.checks ?? []).filter((c) => !c.passed).map((c) => c.name) };
    }
    const client = await createSealedClient(gateway, { apiKey: key, allowInsecurePlatform: true });
    const plain = await client.chat({ prompt: `hello ${canary}` });
    const deltas = [];
    const streamed = await client.chat({ prompt: `stream ${canary}`, stream: true, onDelta: (d) => deltas.push(d) });
    const platform = client.report.checks.find((c) => c.name === 'platform');
    return {
      refused,
      insecure: client.report.insecure,
      platformReason: platform?.reason ?? '',
      sealingKey: client.sealingKeyFingerprint,
      sent,
      plain: { verified: plain.verified, content: plain.content, failed: plain.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.reason}`) },
      streamed: { verified: streamed.verified, content: streamed.content, deltas: deltas.length, failed: streamed.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.reason}`) },
    };
  }, { gateway, key, canary });
  console.log(`RESULT ${JSON.stringify(result)}`);
  assert.deepEqual(errors, []);
  assert.ok(result.refused?.isAttestationError, 'without the insecure option a software TPM must be refused before anything is sent');
  assert.ok(result.refused.failed.includes('platform'));
  assert.equal(result.insecure, true);
  assert.match(result.platformReason, /INSECURE/);
  assert.match(result.sealingKey, /^[0-9a-f]{64}$/);
  assert.equal(result.sent.length, 2, 'both chats went through the page\'s fetch');
  assert.ok(result.sent.every((r) => r.encapsulatedKey && !r.plain && r.length > 0), 'every chat request left the page sealed');
  assert.deepEqual(result.plain.failed, []);
  assert.equal(result.plain.verified, true);
  assert.match(result.plain.content, new RegExp(`hello ${canary}`));
  assert.deepEqual(result.streamed.failed, []);
  assert.equal(result.streamed.verified, true);
  assert.match(result.streamed.content, new RegExp(`stream ${canary}`));
  assert.ok(result.streamed.deltas > 3, `only ${result.streamed.deltas} deltas`);
  exit = 0;
} finally {
  await browser.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(exit);
