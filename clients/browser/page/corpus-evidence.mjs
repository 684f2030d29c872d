// Evidence files (evidence.js) made from the shared corpus's plain vectors (tests/vectors), for the
// page's tests and for save-evidence.mjs: the vector's report, nonce, policy and collateral, its
// `now` as the verification time, and the verdict the browser module reaches in node. Node only.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyReport } from '../tee-verify.js';
import { cases } from '../corpus/runner.mjs';
import { makeEvidence } from './evidence.js';

export const VECTORS = process.env.TEE_VECTORS_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'tests', 'vectors');
const read = async (p) => readFileSync(join(VECTORS, p), 'utf8');

/** The vector's inputs (corpus/runner.mjs) and its evidence file's text; `insecure` overrides the vector's option. */
export async function evidenceOf(vectorPath, { insecure } = {}) {
  const [c] = await cases(vectorPath, read);
  const options = { ...c.options, ...(insecure === undefined ? {} : { allowInsecurePlatform: insecure }) };
  const verifiedAt = options.now ?? new Date();
  const result = await verifyReport(c.report, c.nonce, { ...options, now: verifiedAt });
  const text = makeEvidence({
    service: null, nonce: c.nonce, report: c.report, policy: options.policy ?? null, collateral: options.collateral ?? null,
    verifiedAt, allowInsecurePlatform: options.allowInsecurePlatform, trust: {}, result,
  });
  return { text, result, options, vector: c };
}
