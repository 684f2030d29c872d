// Drives the verification page in headless Debian Chromium (playwright-core), for the node test
// (test/page.test.mjs, the corpus) and the stack's end-to-end script (e2e/verify-page-chromium.mjs):
// opens dist/verify-page.html, records every request the page makes, and reads what it shows.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { buildPage } from './build.mjs';

export const CHROMIUM = process.env.TEE_CHROMIUM ?? '/usr/bin/chromium';

/** Starts headless Chromium (the flags of test/chromium.test.mjs); `close()` ends it and removes its profile. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}. Install with: sudo apt-get install -y chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'tee-verify-page-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, timeout: 60_000, acceptDownloads: true, viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  return { context, async close() { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

/**
 * Opens the page (built once per process) in a new tab, from file:// or `url`, recording every
 * request it makes and every error it throws.
 */
export async function openPage(context, { url } = {}) {
  const file = await (built ??= buildPage());
  const page = await context.newPage();
  page.setDefaultTimeout(120_000);
  const requests = [];
  const errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  // HTTP errors are kept apart (with their URL): Chromium also logs each as a console error.
  const failed = [];
  page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`); });
  const pageUrl = url ?? pathToFileURL(file).href;
  await page.goto(pageUrl, { timeout: 60_000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  return { page, requests, errors, failed, pageUrl, close: () => page.close() };
}
let built = null;

/** Waits for a verdict after `action` and returns what the page shows: verdict, reason, each row's status. */
export async function verdictAfter(page, action) {
  await page.evaluate(() => { document.getElementById('verdict').textContent = '…'; });
  await action();
  await page.waitForFunction(() => document.getElementById('verdict').textContent !== '…' && !document.getElementById('result').hidden, null, { timeout: 120_000 });
  return page.evaluate(() => ({
    verdict: document.getElementById('verdict').textContent,
    why: document.getElementById('verdict-why').textContent,
    meta: document.getElementById('verdict-meta').textContent,
    rows: Object.fromEntries([...document.querySelectorAll('#chain > li')].map((li) => [li.id.slice(4), li.dataset.status])),
    text: document.getElementById('result').innerText,
  }));
}

/** Verifies the service at `service` (the insecure box as given, the policy file if any). */
export async function verifyLive(page, service, { insecure = false, policyFile = null } = {}) {
  await page.fill('#service', service);
  await page.setChecked('#allow-insecure', insecure);
  await page.setInputFiles('#policy-file', policyFile ? [policyFile] : []);
  return verdictAfter(page, () => page.click('#verify'));
}

/** Loads an evidence file (path) for re-verification. */
export async function loadEvidence(page, path, { insecure = false } = {}) {
  await page.setChecked('#allow-insecure', insecure);
  return verdictAfter(page, () => page.setInputFiles('#evidence-file', [path]));
}

/** Clicks "Download evidence" and saves the file to `path`. */
export async function downloadEvidence(page, path) {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#download')]);
  await download.saveAs(path);
  return path;
}

/** WCAG 2 contrast of every visible text element against its effective background (the page's colour pairs). */
export function contrastOfTexts(page) {
  return page.evaluate(() => {
    const rgba = (s) => { const m = s.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
    const lum = ({ r, g, b }) => [r, g, b].map((v) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
      .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (node) => {
      for (let n = node; n; n = n.parentElement) {
        const c = rgba(getComputedStyle(n).backgroundColor);
        if (c.a > 0) return c;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const out = [];
    for (const node of document.querySelectorAll('body *')) {
      const hasText = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
      if (!hasText || !node.getClientRects().length || getComputedStyle(node).visibility === 'hidden') continue;
      const fg = rgba(getComputedStyle(node).color);
      const [a, b] = [lum(fg), lum(background(node))].sort((x, y) => y - x);
      out.push({ text: node.textContent.trim().slice(0, 40), tag: node.tagName, color: getComputedStyle(node).color, ratio: (a + 0.05) / (b + 0.05) });
    }
    return out;
  });
}
