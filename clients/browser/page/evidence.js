// The evidence file (Attestation.Verifier/PROTOCOL.md "Evidence file"): one JSON document with the
// report exactly as received, the nonce it answers, the policy and DCAP collateral used, the time
// it was verified and the verdict. The page, `tee-verify report-file` and the .NET library
// (EvidenceFile) re-verify it offline to the same verdict. What it never carries: trust anchors
// (only their SHA-256, to say which were used — a file cannot bring its own root) and the insecure
// switch's effect (recorded, but a re-verifier accepts a software TPM only by its own option).
// No DOM here: node tests use it too.

import { parseStrictJson } from '../json.js';

export const EVIDENCE_FORMAT = 'tee-aspire/evidence/v1';

/** An evidence file that cannot be used. */
export class EvidenceError extends Error {}

const isHexOf = (s, min, max) => typeof s === 'string' && s.length % 2 === 0 && s.length >= min * 2 && s.length <= max * 2 && /^[0-9a-f]*$/.test(s);
const hexOf = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const bytesOfHex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

/** The verdict of a verifyReport result: VERIFIED, INSECURE (passed only by the insecure option) or REFUSED, and the failed checks in order. */
export function verdictOf(result) {
  const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
  return { result: result.passed ? (result.insecure ? 'INSECURE' : 'VERIFIED') : 'REFUSED', failed };
}

/** SHA-256 (hex) of a PEM certificate's DER, or null. */
export async function pemSha256(pem) {
  const m = typeof pem === 'string' ? /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem) : null;
  if (!m) return null;
  try {
    const der = Uint8Array.from(atob(m[1].replace(/\s/g, '')), (c) => c.charCodeAt(0));
    return hexOf(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', der)));
  } catch {
    return null;
  }
}

/**
 * The evidence file's text for one verification.
 * @param {{service: string|null, nonce: Uint8Array, report: string, policy: string|null, collateral: string|null,
 *   verifiedAt: Date, allowInsecurePlatform: boolean, trust: {intel_root_sha256: string|null, amd_ark_sha256: string|null}, result: object}} e
 */
export function makeEvidence({ service, nonce, report, policy, collateral, verifiedAt, allowInsecurePlatform, trust, result }) {
  const verdict = verdictOf(result);
  return `${JSON.stringify({
    format: EVIDENCE_FORMAT,
    service: service ?? null,
    nonce: hexOf(nonce),
    verified_at: verifiedAt.toISOString(),
    allow_insecure_platform: allowInsecurePlatform === true,
    report,
    policy: policy ?? null,
    collateral: collateral ?? null,
    trust: { intel_root_sha256: trust?.intel_root_sha256 ?? null, amd_ark_sha256: trust?.amd_ark_sha256 ?? null },
    verdict: { result: verdict.result, failed: verdict.failed, checks: result.checks.map(({ name, passed, reason }) => ({ name, passed, reason })) },
  }, null, 1)}\n`;
}

/**
 * Reads an evidence file strictly (every field of its type; unknown fields refused); throws EvidenceError.
 * @returns {{service: string|null, nonce: Uint8Array, verifiedAt: Date, allowInsecurePlatform: boolean, report: string,
 *   policy: string|null, collateral: string|null, trust: object, verdict: {result: string, failed: string[], checks: object[]}}}
 */
export function readEvidence(text) {
  let o;
  // Strictly first: a member named twice (two reports, two nonces) is refused here as in .NET,
  // so the page and the CLI never read different reports out of one file.
  try { parseStrictJson(text); o = JSON.parse(text); } catch (e) { throw new EvidenceError(`not JSON, or a member named twice: ${e.message}`); }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new EvidenceError('not a JSON object');
  if (o.format !== EVIDENCE_FORMAT) throw new EvidenceError(`format is not "${EVIDENCE_FORMAT}"`);
  const known = ['format', 'service', 'nonce', 'verified_at', 'allow_insecure_platform', 'report', 'policy', 'collateral', 'trust', 'verdict'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw new EvidenceError(`unknown field '${unknown[0].slice(0, 40)}'`);
  if (!isHexOf(o.nonce, 16, 64)) throw new EvidenceError('nonce must be lowercase hex of 16–64 bytes');
  if (typeof o.report !== 'string' || o.report.length === 0) throw new EvidenceError('report must be the report\'s text');
  const optionalText = (name) => {
    if (o[name] !== undefined && o[name] !== null && typeof o[name] !== 'string') throw new EvidenceError(`${name} must be text or null`);
    return o[name] ?? null;
  };
  const verifiedAt = new Date(typeof o.verified_at === 'string' ? o.verified_at : NaN);
  if (Number.isNaN(verifiedAt.getTime())) throw new EvidenceError('verified_at must be an ISO 8601 time');
  if (o.allow_insecure_platform !== undefined && typeof o.allow_insecure_platform !== 'boolean') throw new EvidenceError('allow_insecure_platform must be true or false');
  const v = o.verdict;
  if (v === null || typeof v !== 'object' || !['VERIFIED', 'INSECURE', 'REFUSED'].includes(v.result) || !Array.isArray(v.failed) || !v.failed.every((n) => typeof n === 'string'))
    throw new EvidenceError('verdict must be {result: VERIFIED|INSECURE|REFUSED, failed: [check names], checks}');
  return {
    service: optionalText('service'),
    nonce: bytesOfHex(o.nonce),
    verifiedAt,
    allowInsecurePlatform: o.allow_insecure_platform === true,
    report: o.report,
    policy: optionalText('policy'),
    collateral: optionalText('collateral'),
    trust: o.trust && typeof o.trust === 'object' ? o.trust : {},
    verdict: { result: v.result, failed: v.failed, checks: Array.isArray(v.checks) ? v.checks : [] },
  };
}

/**
 * Re-verifies an evidence file as of its `verified_at`, with its policy and collateral and the
 * caller's own trust anchors and insecure switch (`options`, as verifyReport takes them).
 * @returns {Promise<{result: object, verdict: {result: string, failed: string[]}, same: boolean}>}
 */
export async function reverifyEvidence(evidence, verifyReport, options) {
  const result = await verifyReport(evidence.report, evidence.nonce, {
    ...options,
    policy: evidence.policy ?? undefined,
    collateral: evidence.collateral ?? undefined,
    now: evidence.verifiedAt,
  });
  const verdict = verdictOf(result);
  const same = verdict.result === evidence.verdict.result && verdict.failed.join(',') === evidence.verdict.failed.join(',');
  return { result, verdict, same };
}
