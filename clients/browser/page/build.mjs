// Builds the verification page as ONE file, dist/verify-page.html: the browser module's bundle
// (dist/tee-verify.bundle.js, exactly as `npm run build` makes it) and the page's script bundled
// into an inline script, the style inline, and a Content-Security-Policy that allows only those two
// (by hash) and connections to http(s) — no other script, style, font, image or frame can load.
// One self-contained file opens from file:// (a module script file would not), a static host or a
// release artifact alike.   node page/build.mjs   (npm run build:page)
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
export const PAGE = join(root, 'dist', 'verify-page.html');

const sha256 = (text) => `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;

/** Builds the bundle and the page; writes both to dist/ and returns the page's path. */
export async function buildPage() {
  // The browser module's bundle: the same options as package.json's "build" script.
  await esbuild.build({ entryPoints: [join(root, 'tee-verify.js')], bundle: true, format: 'esm', platform: 'browser', outfile: join(root, 'dist', 'tee-verify.bundle.js'), logLevel: 'silent' });
  const out = await esbuild.build({ entryPoints: [join(here, 'page.js')], bundle: true, format: 'iife', platform: 'browser', write: false, logLevel: 'silent', charset: 'utf8' });
  // Inside an inline <script>, "</script" would end it: escape it (in strings it is the same text).
  const script = out.outputFiles[0].text.replace(/<\/(script)/gi, '<\\/$1');
  const style = readFileSync(join(here, 'page.css'), 'utf8');
  const fill = { '%SCRIPT_HASH%': sha256(script), '%STYLE_HASH%': sha256(style), '%STYLE%': style, '%SCRIPT%': script };
  const html = readFileSync(join(here, 'template.html'), 'utf8').replace(/%(SCRIPT_HASH|STYLE_HASH|STYLE|SCRIPT)%/g, (m) => fill[m]);
  mkdirSync(dirname(PAGE), { recursive: true });
  writeFileSync(PAGE, html);
  return PAGE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(`wrote ${await buildPage()}`);
