// The shared corpus (tests/vectors/README.md) for the browser module, in node and in a page:
// no node APIs here. `read(path)` gives a file's text by its path relative to tests/vectors.
// Mutation vectors expand to every single-byte flip of the named base64 field.

const dirOf = (p) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/') + 1) : '');
const join = (dir, rel) => {
  const parts = (dir + rel).split('/');
  const out = [];
  for (const part of parts) {
    if (part === '..') out.pop();
    else if (part !== '.' && part !== '') out.push(part);
  }
  return out.join('/');
};
const fromHex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const b64decode = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const b64encode = (bytes) => { let bin = ''; for (const b of bytes) bin += String.fromCharCode(b); return btoa(bin); };

/** The inputs of one plain vector: report text, nonce, options for verifyReport, expectation. */
async function single(path, read) {
  const v = JSON.parse(await read(path));
  const dir = dirOf(path);
  const rel = (p) => read(join(dir, p));
  const options = { allowInsecurePlatform: v.options?.allow_insecure_platform === true };
  if (typeof v.policy === 'string') options.policy = await rel(v.policy);
  if (v.trust?.intel_root) options.intelRoot = await rel(v.trust.intel_root);
  if (v.trust?.amd_ark) options.amdArk = await rel(v.trust.amd_ark);
  if (Array.isArray(v.trust?.imds_roots)) options.imdsRoots = await Promise.all(v.trust.imds_roots.map(rel));
  if (typeof v.collateral === 'string') options.collateral = await rel(v.collateral);
  if (typeof v.now === 'string') options.now = new Date(v.now);
  return { name: path, report: await rel(v.report), nonce: fromHex(v.nonce), options, verdict: v.expect.verdict, failedCheck: v.expect.failed_check ?? null, either: false };
}

/** The cases of one vector file: one, or one per flipped byte. */
export async function cases(path, read) {
  const v = JSON.parse(await read(path));
  if (!v.mutate) return [await single(path, read)];
  const { base, field, flip } = v.mutate;
  if (flip !== 'xor-ff-each-byte') throw new Error(`${path}: unknown flip rule ${flip}`);
  const basis = await single(join(dirOf(path), base), read);
  const report = JSON.parse(basis.report);
  const parts = field.split('.');
  let parent = report;
  for (const part of parts.slice(0, -1)) parent = parent[/^[0-9]+$/.test(part) ? Number(part) : part];
  const key = parts[parts.length - 1];
  const original = b64decode(parent[key]);
  const ranges = v.mutate.unauthenticated ?? [];
  const out = [];
  for (let i = 0; i < original.length; i++) {
    const bytes = original.slice();
    bytes[i] ^= 0xff;
    parent[key] = b64encode(bytes);
    out.push({ ...basis, name: `${path}[${i}]`, report: JSON.stringify(report), verdict: v.expect.verdict, failedCheck: v.expect.failed_check ?? null, either: ranges.some((r) => i >= r.from && i < r.to) });
  }
  return out;
}

/** Runs one case; the report goes in as text, as received. */
export async function run(c, verifyReport) {
  const result = await verifyReport(c.report, c.nonce, c.options);
  const failed = result.checks.filter((x) => !x.passed).map((x) => x.name);
  const verdict = result.passed ? 'VERIFIED' : 'REFUSED';
  const internal = failed.includes('verifier.internal_error');
  if (c.either) return { met: !internal, verdict, failed, explanation: `${verdict} (unauthenticated byte: either verdict)` };
  const met = !internal && verdict === c.verdict && (c.failedCheck === null || failed.includes(c.failedCheck));
  const expected = `${c.verdict}${c.failedCheck ? ` by ${c.failedCheck}` : ''}`;
  return { met, verdict, failed, explanation: met ? expected : `expected ${expected}, got ${verdict} (failed: ${failed.join(', ')}; ${result.checks.filter((x) => !x.passed).map((x) => `${x.name}: ${x.reason}`).join(' | ').slice(0, 600)})` };
}

/**
 * Runs every vector file given. @returns {{files: number, cases: number, met: number, missed: string[], perFile: object}}
 */
export async function runCorpus(files, read, verifyReport, { onFile } = {}) {
  const summary = { files: 0, cases: 0, met: 0, missed: [], perFile: {} };
  for (const file of files) {
    summary.files++;
    const list = await cases(file, read);
    let met = 0;
    for (const c of list) {
      const outcome = await run(c, verifyReport);
      summary.cases++;
      if (outcome.met) { met++; summary.met++; } else summary.missed.push(`${c.name}: ${outcome.explanation}`);
    }
    summary.perFile[file] = { cases: list.length, met };
    onFile?.(file, list.length, met);
  }
  return summary;
}
