// The corpus (tests/vectors) through the
// browser module in node: every vector, mutation vectors expanded to every single-byte flip; each
// must reach its verdict and name its failed check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyReport } from '../tee-verify.js';
import { cases, run } from '../corpus/runner.mjs';
import { corpora, vectorFiles, reader } from '../corpus/files.mjs';

for (const corpus of corpora) {
  const files = vectorFiles(corpus.dir);
  test(`the ${corpus.name} corpus is there`, () => assert.ok(files.length > 0, `no *.vector.json under ${corpus.dir}`));
  for (const file of files) {
    test(`${corpus.name} vector ${file}`, async () => {
      const list = await cases(file, reader(corpus.dir));
      assert.ok(list.length > 0);
      const missed = [];
      for (const c of list) {
        const outcome = await run(c, verifyReport);
        if (!outcome.met) missed.push(`${c.name}: ${outcome.explanation}`);
      }
      assert.deepEqual(missed.slice(0, 10), [], `${missed.length} of ${list.length} cases missed`);
    });
  }
}
