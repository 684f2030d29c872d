// The shared corpus (tests/vectors) through the browser module in node: every vector, mutation
// vectors expanded to every single-byte flip; each must reach its verdict and name its failed check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyReport } from '../tee-verify.js';
import { cases, run } from './corpus.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const vectorsDir = resolve(process.env.TEE_VECTORS_DIR ?? join(here, '..', '..', '..', 'tests', 'vectors'));

export function vectorFiles(dir = vectorsDir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.vector.json')) out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  walk(dir);
  return out;
}

export const readVectorFile = async (p) => readFileSync(join(vectorsDir, p), 'utf8');

const files = vectorFiles();

test('the corpus is there', () => assert.ok(files.length > 0, `no *.vector.json under ${vectorsDir}`));

for (const file of files) {
  test(`vector ${file}`, async () => {
    const list = await cases(file, readVectorFile);
    assert.ok(list.length > 0);
    const missed = [];
    for (const c of list) {
      const outcome = await run(c, verifyReport);
      if (!outcome.met) missed.push(`${c.name}: ${outcome.explanation}`);
    }
    assert.deepEqual(missed.slice(0, 10), [], `${missed.length} of ${list.length} cases missed`);
  });
}
