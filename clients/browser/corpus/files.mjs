// Where the corpus is, for node: the shared one (tests/vectors, or TEE_VECTORS_DIR), which the
// .NET library, the CLI and this module all run.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const corpora = [
  { name: 'shared', dir: resolve(process.env.TEE_VECTORS_DIR ?? join(here, '..', '..', '..', 'tests', 'vectors')) },
];

/** Every *.vector.json under a corpus directory, by path relative to it, sorted. */
export function vectorFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.vector.json')) out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** A reader of a corpus's files by path relative to it. */
export const reader = (dir) => async (p) => readFileSync(join(dir, p), 'utf8');
