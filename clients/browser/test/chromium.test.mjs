// The shared corpus in headless Debian Chromium (playwright-core drives /usr/bin/chromium): the
// module is bundled by esbuild exactly as `npm run build` ships it, served with the vectors on
// 127.0.0.1, and every case runs in the page on the browser's own WebCrypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { corpora, vectorFiles } from '../corpus/files.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.TEE_CHROMIUM ?? '/usr/bin/chromium';

async function bundle() {
  const out = await esbuild.build({
    entryPoints: [join(here, '..', 'tee-verify.js')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
  });
  return out.outputFiles[0].contents;
}

function serve(files) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const send = (type, body) => { res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }); res.end(body); };
    if (url.pathname === '/') return send('text/html', '<!doctype html><meta charset="utf-8"><title>tee-verify corpus</title><body>corpus</body>');
    if (url.pathname === '/tee-verify.bundle.js') return send('text/javascript', files.bundle);
    if (url.pathname === '/corpus.mjs') return send('text/javascript', readFileSync(join(here, '..', 'corpus', 'runner.mjs')));
    if (url.pathname === '/corpora.json') return send('application/json', JSON.stringify(files.corpora));
    const m = /^\/c\/([a-z-]+)\/(.+)$/.exec(url.pathname);
    const corpus = m && corpora.find((c) => c.name === m[1]);
    if (corpus) {
      const rel = normalize(decodeURIComponent(m[2]));
      const path = join(corpus.dir, rel);
      if (!rel.startsWith('..') && path.startsWith(corpus.dir) && existsSync(path)) return send('text/plain; charset=utf-8', readFileSync(path));
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

test('the corpus in headless Chromium reaches every expected verdict', { timeout: 900_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}. Install with: sudo apt-get install -y chromium`);
  const list = corpora.map((c) => ({ name: c.name, files: vectorFiles(c.dir) }));
  const total = list.reduce((n, c) => n + c.files.length, 0);
  const server = await serve({ bundle: await bundle(), corpora: list });
  const profile = mkdtempSync(join(tmpdir(), 'tee-verify-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    page.setDefaultTimeout(840_000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/`, { timeout: 60_000 });
    const summary = await page.evaluate(async () => {
      const { verifyReport } = await import('/tee-verify.bundle.js');
      const { runCorpus } = await import('/corpus.mjs');
      const all = { files: 0, cases: 0, met: 0, missed: [] };
      for (const corpus of await (await fetch('/corpora.json')).json()) {
        const read = async (p) => {
          const r = await fetch(`/c/${corpus.name}/${p}`);
          if (!r.ok) throw new Error(`${corpus.name}/${p}: HTTP ${r.status}`);
          return r.text();
        };
        const s = await runCorpus(corpus.files, read, verifyReport);
        all.files += s.files;
        all.cases += s.cases;
        all.met += s.met;
        all.missed.push(...s.missed.map((x) => `${corpus.name}: ${x}`));
      }
      return all;
    });
    const userAgent = await page.evaluate(() => navigator.userAgent);
    t.diagnostic(`${userAgent}: ${summary.files} vector files, ${summary.cases} cases, ${summary.met} met`);
    console.log(`chromium corpus: ${summary.files} vector files, ${summary.cases} cases, ${summary.met} met (${userAgent})`);
    assert.deepEqual(errors, []);
    assert.equal(summary.files, total);
    assert.ok(total > 0 && summary.cases >= total);
    assert.deepEqual(summary.missed.slice(0, 10), [], `${summary.missed.length} of ${summary.cases} cases missed in Chromium`);
  } finally {
    await browser.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
