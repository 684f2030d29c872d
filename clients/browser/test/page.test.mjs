// The verification page (page/) in headless Debian Chromium, opened from file:// as a customer
// would open a release artifact, against the shared corpus: a genuine local-stack report (swtpm:
// INSECURE), forged ones (REFUSED, naming the check in plain words), a policy mismatch, evidence
// files saved and re-verified, a service that replays an old report, the page served by the service
// itself, keyboard use and contrast — and every request the page makes is recorded: nothing but the
// service. Screenshots go to $TEE_PAGE_SCREENSHOTS (docs/ keeps the committed ones: see README).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyReport } from '../tee-verify.js';
import { launchChromium, openPage, verdictAfter, loadEvidence, downloadEvidence, contrastOfTexts, verifyLive } from '../page/drive.mjs';
import { evidenceOf, VECTORS } from '../page/corpus-evidence.mjs';
import { readEvidence, reverifyEvidence, EvidenceError, makeEvidence } from '../page/evidence.js';
import { policyFromRelease, ReleaseError } from '../page/release.js';
import { chainRows } from '../page/chain.js';
import { PAGE } from '../page/build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'tee-page-test-'));
const shots = process.env.TEE_PAGE_SCREENSHOTS ?? join(work, 'shots');
mkdirSync(shots, { recursive: true });
let chromium;

before(async () => { chromium = await launchChromium(); });
after(async () => { await chromium?.close(); rmSync(work, { recursive: true, force: true }); });

/** An evidence file for a corpus vector, written to the work directory. */
async function evidenceFile(vector, name, opts) {
  const e = await evidenceOf(vector, opts);
  const path = join(work, `${name}.evidence.json`);
  writeFileSync(path, e.text);
  return { path, ...e };
}

/** Opens the page, runs `body`, and asserts it threw nothing and fetched nothing beyond `allowed` origins. */
async function withPage(body, { allowed = [], url } = {}) {
  const p = await openPage(chromium.context, { url });
  try {
    await body(p);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.failed, [], 'an HTTP error');
    const outside = p.requests.filter((r) => !(r === p.pageUrl || allowed.some((o) => r.startsWith(`${o}/`))));
    assert.deepEqual(outside, [], 'the page fetched something other than the service');
    return p.requests;
  } finally {
    await p.close();
  }
}

const lowContrast = async (page) => (await contrastOfTexts(page)).filter((t) => t.ratio < 4.5);

test('a genuine local-stack report (swtpm) shows INSECURE, never VERIFIED, and no link it did not check as passed', async () => {
  const e = await evidenceFile('swtpm-insecure-allowed.vector.json', 'swtpm');
  await withPage(async ({ page }) => {
    const shown = await loadEvidence(page, e.path, { insecure: true });
    assert.equal(shown.verdict, 'INSECURE');
    assert.match(shown.why, /no hardware vouches for this report/);
    assert.equal(shown.rows.hardware, 'insecure');
    assert.equal(shown.rows.keys, 'passed');
    assert.equal(shown.rows.freshness, 'passed');
    assert.equal(shown.rows.td, 'not-checked', 'no TD quote: which TD is not checked, and must not read as passed');
    assert.equal(shown.rows.release, 'not-checked');
    assert.match(shown.text, /the same verdict/);
    assert.doesNotMatch(shown.text, /VERIFIED/);
    assert.deepEqual(await lowContrast(page), []);
    await page.screenshot({ path: join(shots, 'verify-page-insecure.png'), fullPage: true });
  });
});

test('the same evidence without the insecure box is REFUSED naming platform: the file\'s allow_insecure_platform is not obeyed', async () => {
  const e = await evidenceFile('swtpm-insecure-allowed.vector.json', 'swtpm-strict');
  assert.equal(readEvidence(e.text).allowInsecurePlatform, true);
  await withPage(async ({ page }) => {
    const shown = await loadEvidence(page, e.path, { insecure: false });
    assert.equal(shown.verdict, 'REFUSED');
    assert.match(shown.why, /There is no proof of hardware/);
    assert.match(shown.why, /first failed check: platform/);
    assert.match(shown.text, /A DIFFERENT VERDICT/);
    assert.match(shown.text, /accepts a software TPM only when you tick it here/);
  });
});

test('a forged report (its key set swapped after the TPM quoted another) is REFUSED naming tpm_quote.extra_data in plain words', async () => {
  const e = await evidenceFile('key-set-not-in-extra-data.vector.json', 'forged');
  await withPage(async ({ page }) => {
    const shown = await loadEvidence(page, e.path, { insecure: true });
    assert.equal(shown.verdict, 'REFUSED');
    assert.match(shown.why, /The TPM did not sign this nonce with this key set/);
    assert.match(shown.why, /first failed check: tpm_quote\.extra_data/);
    assert.equal(shown.rows.keys, 'failed');
    assert.deepEqual(await lowContrast(page), []);
    await page.screenshot({ path: join(shots, 'verify-page-forged.png'), fullPage: true });
  });
});

test('a software report relabelled azure-tdx is REFUSED naming platform, and its claims are shown as said, not proven', async () => {
  const e = await evidenceFile('forged-software-relabelled-azure-tdx.vector.json', 'relabelled');
  await withPage(async ({ page }) => {
    const shown = await loadEvidence(page, e.path);
    assert.equal(shown.verdict, 'REFUSED');
    assert.match(shown.why, /first failed check: platform/);
    const claims = await page.locator('#claims').innerText();
    assert.match(claims, /platform\s+azure-tdx — said, not proven/);
    assert.match(claims, /tee_verified\s+true — said, not proven/);
    assert.notEqual(shown.rows.hardware, 'passed');
  });
});

test('a policy mismatch — the local report against a release it does not run — is REFUSED naming the check', async () => {
  const e = await evidenceFile('swtpm-insecure-allowed.vector.json', 'mismatch');
  const policy = readFileSync(join(VECTORS, 'policies', 'app-release.policy.json'), 'utf8');
  const again = await verifyReport(e.vector.report, e.vector.nonce, { ...e.options, policy });
  const path = join(work, 'mismatch.evidence.json');
  writeFileSync(path, makeEvidence({ ...readEvidence(e.text), nonce: e.vector.nonce, policy, result: again, trust: {} }));
  await withPage(async ({ page }) => {
    const shown = await loadEvidence(page, path, { insecure: true });
    assert.equal(shown.verdict, 'REFUSED');
    assert.match(shown.why, /Measurement PCR 13 is not the value your policy expects/);
    assert.match(shown.why, /first failed check: policy\.pcr13/);
    assert.equal(shown.rows.release, 'failed');
    assert.equal(shown.rows.hardware, 'insecure');
    assert.deepEqual(await lowContrast(page), []);
    await page.screenshot({ path: join(shots, 'verify-page-policy-mismatch.png'), fullPage: true });
  });
});

test('evidence downloaded from the page re-verifies offline to the verdict it records', async () => {
  const e = await evidenceFile('app-release-accepted.vector.json', 'release');
  let saved;
  await withPage(async ({ page }) => {
    const shown = await loadEvidence(page, e.path, { insecure: true });
    assert.equal(shown.verdict, 'INSECURE');
    assert.equal(shown.rows.release, 'passed');
    saved = await downloadEvidence(page, join(work, 'downloaded.evidence.json'));
  });
  const evidence = readEvidence(readFileSync(saved, 'utf8'));
  assert.equal(evidence.report, e.vector.report, 'the report is kept exactly as received');
  assert.equal(evidence.verdict.result, 'INSECURE');
  const { verdict, same } = await reverifyEvidence(evidence, verifyReport, { allowInsecurePlatform: true });
  assert.equal(verdict.result, 'INSECURE');
  assert.ok(same);
});

test('an evidence file claiming VERIFIED for a forged report is re-verified, not believed', async () => {
  const e = await evidenceFile('key-set-not-in-extra-data.vector.json', 'lying');
  const o = JSON.parse(e.text);
  o.verdict = { result: 'VERIFIED', failed: [], checks: [] };
  writeFileSync(e.path, JSON.stringify(o));
  await withPage(async ({ page }) => {
    const shown = await loadEvidence(page, e.path, { insecure: true });
    assert.equal(shown.verdict, 'REFUSED');
    assert.match(shown.text, /Recorded in the file: VERIFIED — A DIFFERENT VERDICT/);
  });
});

test('evidence files with a member named twice, unknown fields or a bad nonce are refused by name, never crash the page', async () => {
  const { text, path } = await evidenceFile('swtpm-insecure-allowed.vector.json', 'hostile');
  const o = JSON.parse(text);
  const twice = text.replace('"report":', `"report": ${JSON.stringify(JSON.stringify({ evidence: {} }))},\n "report":`);
  const hostile = {
    twice,
    unknown: JSON.stringify({ ...o, extra: 1 }),
    nonce: JSON.stringify({ ...o, nonce: 'ABCD' }),
    verdict: JSON.stringify({ ...o, verdict: { result: 'FINE', failed: [] } }),
    notjson: '{"format":',
  };
  for (const [name, body] of Object.entries(hostile)) assert.throws(() => readEvidence(body), EvidenceError, name);
  writeFileSync(path, twice);
  await withPage(async ({ page }) => {
    await page.setInputFiles('#evidence-file', [path]);
    await page.waitForFunction(() => document.getElementById('evidence-status').textContent.includes('not an evidence file'));
    assert.match(await page.locator('#evidence-status').innerText(), /named twice/);
    assert.equal(await page.locator('#result').isHidden(), true);
  });
});

/** A stand-in for a service that replays one fixed report to every nonce (CORS open), optionally serving the page itself. */
function replayingService(report, { servePage = false } = {}) {
  const server = createServer((req, res) => {
    if (req.url.startsWith('/attestation')) {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      return res.end(report);
    }
    if (servePage && req.url === '/verify-page.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(readFileSync(PAGE));
    }
    res.writeHead(404);
    return res.end();
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, origin: `http://127.0.0.1:${server.address().port}` })));
}

test('a service replaying an old report to a fresh random nonce is REFUSED naming nonce, and the page fetched only that service', async () => {
  const report = readFileSync(join(VECTORS, 'reports', 'swtpm.json'), 'utf8');
  const { server, origin } = await replayingService(report);
  try {
    const requests = await withPage(async ({ page }) => {
      const first = await verifyLive(page, origin, { insecure: true });
      assert.equal(first.verdict, 'REFUSED');
      assert.match(first.why, /does not answer the nonce this page sent/);
      assert.match(first.why, /first failed check: nonce/);
      await verdictAfter(page, () => page.click('#verify'));
    }, { allowed: [origin] });
    const nonces = requests.filter((r) => r.startsWith(`${origin}/attestation?nonce=`)).map((r) => new URL(r).searchParams.get('nonce'));
    assert.equal(nonces.length, 2);
    assert.ok(nonces.every((n) => /^[0-9a-f]{64}$/.test(n)), 'a 32-byte nonce each time');
    assert.notEqual(nonces[0], nonces[1], 'a fresh nonce for every verification');
  } finally {
    server.close();
  }
});

test('the page served by the service it would verify refuses to verify it, says why, and asks it nothing', async () => {
  const report = readFileSync(join(VECTORS, 'reports', 'swtpm.json'), 'utf8');
  const { server, origin } = await replayingService(report, { servePage: true });
  try {
    const requests = await withPage(async ({ page }) => {
      const shown = await verifyLive(page, origin, { insecure: true });
      assert.equal(shown.verdict, 'NOT VERIFIED — wrong origin');
      assert.match(shown.why, /A service cannot vouch for itself/);
    }, { url: `${origin}/verify-page.html`, allowed: [] });
    assert.deepEqual(requests.filter((r) => r.includes('/attestation')), []);
  } finally {
    server.close();
  }
});

test('keyboard only: every control is reached by Tab with a visible focus ring, Enter verifies, and focus lands on the verdict', async () => {
  const report = readFileSync(join(VECTORS, 'reports', 'swtpm.json'), 'utf8');
  const { server, origin } = await replayingService(report);
  try {
    await withPage(async ({ page }) => {
      const seen = [];
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(() => {
          const a = document.activeElement;
          const ringOf = (n) => { const s = getComputedStyle(n); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; };
          return { id: a.id || a.tagName, ring: ringOf(a) || (a.closest('label') ? ringOf(a.closest('label')) : false) };
        });
        seen.push(focused);
      }
      const ids = seen.map((f) => f.id);
      for (const id of ['service', 'policy-file', 'allow-insecure', 'SUMMARY', 'verify', 'evidence-file']) assert.ok(ids.includes(id), `${id} is not reached by Tab: ${ids.join(' ')}`);
      assert.deepEqual(seen.filter((f) => !f.ring && f.id !== 'BODY').map((f) => f.id), [], 'a focused control without a visible focus ring');
      await page.focus('#service');
      await page.keyboard.type(origin);
      const shown = await verdictAfter(page, () => page.keyboard.press('Enter'));
      assert.equal(shown.verdict, 'REFUSED');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'verdict-box');
    }, { allowed: [origin] });
  } finally {
    server.close();
  }
});

test('a release manifest is made into the policy `policy from-release` writes, and a tampered one is refused', async () => {
  const manifest = readFileSync(join(VECTORS, 'releases', 'app-release-manifest.json'), 'utf8');
  const expected = JSON.parse(readFileSync(join(VECTORS, 'policies', 'app-release.policy.json'), 'utf8'));
  assert.deepEqual(JSON.parse(await policyFromRelease(manifest)), expected);
  const m = JSON.parse(manifest);
  m.images[0] = `sha256:${'9'.repeat(64)}`;
  await assert.rejects(policyFromRelease(JSON.stringify(m)), ReleaseError);
  const swapped = JSON.parse(manifest);
  swapped.events[1].data = `sha256:${'9'.repeat(64)}`;
  await assert.rejects(policyFromRelease(JSON.stringify(swapped)), ReleaseError);
});

test('a link with no check that ran is never shown as passed', () => {
  const result = { passed: true, insecure: false, checks: [{ name: 'report.format', passed: true, reason: '' }] };
  const rows = Object.fromEntries(chainRows(result, {}).map((r) => [r.row.id, r.status]));
  for (const id of ['hardware', 'td', 'keys', 'release', 'freshness']) assert.equal(rows[id], 'not-checked', id);
  assert.equal(rows.models, 'not-reported');
});

test('the committed screenshots exist (docs/, shown in README)', () => {
  for (const name of ['verify-page-insecure.png', 'verify-page-forged.png', 'verify-page-policy-mismatch.png']) {
    const png = readFileSync(join(here, '..', '..', '..', 'docs', name));
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], `${name} is not a PNG`);
  }
});
