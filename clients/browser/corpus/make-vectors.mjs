#!/usr/bin/env node
// Writes the browser helper's vectors (run from clients/browser: `node corpus/make-vectors.mjs`):
//   tests/vectors/browser-testpki/  — Azure-TDX-shaped evidence under a TEST PKI shaped like Intel's
//     (VERIFIED with its test root and collateral; the forgeries each check stops; every byte flip
//     of the HCL report and the TD quote), and the real Intel quote in a home-made HCL report;
//   tests/vectors/testpki-dcap/    — the DCAP collateral forgeries (CRLs, QE identity, collateral
//     signatures) and the real Intel quote under Intel's real 2026-dated collateral checks.
// Keys are fresh on each run; the committed files are the corpus.
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from './evidence.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const shared = join(repo, '..', 'shared', 'testdata');
const SHARED_DIR = join(repo, 'tests', 'vectors', 'browser-testpki');
const JS_DIR = join(repo, 'tests', 'vectors', 'testpki-dcap');

const write = (dir, rel, value) => {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), typeof value === 'string' ? value : `${JSON.stringify(value, null, 1)}\n`);
};
const nonceHex = E.hex(E.NONCE);

function vector(dir, name, description, report, expect, { policy = null, collateral = 'collateral/test-uptodate.json', root = 'trust/test-sgx-root.pem', now = E.TEST_NOW.toISOString(), insecure = false } = {}) {
  const v = { description, report, nonce: nonceHex, now, policy, options: { allow_insecure_platform: insecure }, trust: root ? { intel_root: root } : {}, collateral, expect };
  if (!collateral) delete v.collateral;
  write(dir, `${name}.vector.json`, v);
}

const keys = await E.softwareKeys();
const pki = await E.testPki();
const good = await E.azureTdxReport(keys, pki);
const debug = await E.azureTdxReport(keys, pki, { tdAttributes: 0x10000001n });
const oldTcb = await E.azureTdxReport(keys, pki, { teeTcbSvn: 0 });
const module10 = await E.azureTdxReport(keys, pki, { teeTcbSvn: 10 });
const seamAttributes = await E.azureTdxReport(keys, pki, { seamAttributes: 1n });
const expiredPki = await E.testPki({ pckFrom: new Date('2024-01-01T00:00:00Z'), pckTo: new Date('2026-01-01T00:00:00Z') });
const expired = await E.azureTdxReport(keys, expiredPki);

for (const dir of [SHARED_DIR, JS_DIR]) {
  write(dir, 'trust/test-sgx-root.pem', pki.pem.root);
  write(dir, 'reports/azure-tdx-testpki.json', good.report);
  write(dir, 'collateral/test-uptodate.json', await E.collateral(pki));
}

// ── shared corpus: the .NET library and the browser module agree on these ──
const d = SHARED_DIR;
vector(d, 'testpki-azure-tdx', 'Azure-TDX-shaped evidence under the test PKI (root → PCK CA → PCK with SGX extensions), every binding in place, collateral signed by the test TCB signing key, CRLs current: VERIFIED only because the vector trusts the test root', 'reports/azure-tdx-testpki.json', { verdict: 'VERIFIED' });
write(d, 'policies/testpki-td.policy.json', {
  platform: 'azure-tdx',
  td: Object.fromEntries(['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrseam', 'td_attributes', 'xfam'].map((f) => [f, [fieldOf(good.body, f)]])),
  tcb: { accept: ['UpToDate'] },
  pcrs: { 0: E.hex(E.PCRS[0]), 7: E.hex(E.PCRS[7]) },
});
vector(d, 'testpki-azure-tdx-policy-pins-td', 'the same under a policy pinning MRTD, RTMR0–3, MRSEAM, TDATTRIBUTES, XFAM and PCRs 0 and 7: VERIFIED', 'reports/azure-tdx-testpki.json', { verdict: 'VERIFIED' }, { policy: 'policies/testpki-td.policy.json' });
const other = { ...JSON.parse(readFileSync(join(d, 'policies/testpki-td.policy.json'), 'utf8')) };
other.td = { ...other.td, mrtd: ['ab'.repeat(48)] };
write(d, 'policies/testpki-other-mrtd.policy.json', other);
vector(d, 'testpki-azure-tdx-another-td', 'a genuine TD, but not the one the policy names (another MRTD): any TD is not enough', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'policy.mrtd' }, { policy: 'policies/testpki-other-mrtd.policy.json' });
vector(d, 'testpki-azure-tdx-no-intel-root', 'no Intel root given: the TD quote cannot be checked', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_chain' }, { root: null });
write(d, 'trust/test-other-root.pem', (await E.testPki()).pem.root);
vector(d, 'testpki-azure-tdx-another-root', 'a root of the same name but another key: the PCK chain does not reach it', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_chain' }, { root: 'trust/test-other-root.pem' });
vector(d, 'testpki-azure-tdx-no-collateral', 'no collateral: the TCB status and revocation are unknown', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.collateral' }, { collateral: null });
write(d, 'reports/azure-tdx-testpki-debug.json', debug.report);
vector(d, 'testpki-azure-tdx-debug', 'a debug TD (TDATTRIBUTES.DEBUG): its host can read and change it', 'reports/azure-tdx-testpki-debug.json', { verdict: 'REFUSED', failed_check: 'policy.debug' });
write(d, 'reports/azure-tdx-testpki-old-tcb.json', oldTcb.report);
write(d, 'collateral/test-old-tcb.json', await E.collateral(pki, { tcbSvn: 1 }));
vector(d, 'testpki-azure-tdx-tcb-below-every-level', 'the TD\'s TEE_TCB_SVN is below every TCB level of the collateral', 'reports/azure-tdx-testpki-old-tcb.json', { verdict: 'REFUSED', failed_check: 'td_quote.tcb_status' }, { collateral: 'collateral/test-old-tcb.json' });
// The TDX module identity is looked up as Intel's QVL does: "TDX_" + the module's major version in hex.
write(d, 'reports/azure-tdx-testpki-module-10.json', module10.report);
write(d, 'collateral/test-module-0a.json', await E.collateral(pki, { moduleId: 'TDX_0A' }));
write(d, 'collateral/test-module-10-decimal.json', await E.collateral(pki, { moduleId: 'TDX_10' }));
vector(d, 'testpki-azure-tdx-module-hex-id', 'TDX module major version 10 (TEE_TCB_SVN[1] = 0x0A) matched against the TCB info identity "TDX_0A", as Intel\'s QVL names it: VERIFIED', 'reports/azure-tdx-testpki-module-10.json', { verdict: 'VERIFIED' }, { collateral: 'collateral/test-module-0a.json' });
vector(d, 'testpki-azure-tdx-module-decimal-id', 'the same TD against TCB info whose only module identity is "TDX_10" (decimal): no identity for its module, TCB Unrecognized', 'reports/azure-tdx-testpki-module-10.json', { verdict: 'REFUSED', failed_check: 'td_quote.tcb_status' }, { collateral: 'collateral/test-module-10-decimal.json' });
write(d, 'reports/azure-tdx-testpki-seam-attributes.json', seamAttributes.report);
vector(d, 'testpki-azure-tdx-seam-attributes', 'a TDX module whose SEAMATTRIBUTES are not the TCB info\'s under its mask (a debug-enabled module): TCB Unrecognized', 'reports/azure-tdx-testpki-seam-attributes.json', { verdict: 'REFUSED', failed_check: 'td_quote.tcb_status' });
write(d, 'collateral/test-out-of-date.json', await E.collateral(pki, { status: 'OutOfDate' }));
vector(d, 'testpki-azure-tdx-tcb-out-of-date', 'the platform\'s TCB level is OutOfDate: refused by default', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.tcb_status' }, { collateral: 'collateral/test-out-of-date.json' });
write(d, 'policies/accept-out-of-date.policy.json', { tcb: { accept: ['UpToDate', 'OutOfDate'] } });
vector(d, 'testpki-azure-tdx-tcb-out-of-date-accepted', 'the same, accepted because the policy names OutOfDate', 'reports/azure-tdx-testpki.json', { verdict: 'VERIFIED' }, { collateral: 'collateral/test-out-of-date.json', policy: 'policies/accept-out-of-date.policy.json' });
write(d, 'reports/azure-tdx-testpki-expired-pck.json', expired.report);
write(d, 'trust/test-sgx-root-2.pem', expiredPki.pem.root);
write(d, 'collateral/test-uptodate-2.json', await E.collateral(expiredPki));
vector(d, 'testpki-azure-tdx-expired-pck', 'the PCK certificate expired before the verification time', 'reports/azure-tdx-testpki-expired-pck.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_chain' }, { root: 'trust/test-sgx-root-2.pem', collateral: 'collateral/test-uptodate-2.json' });
vector(d, 'testpki-azure-tdx-insecure-option-changes-nothing', 'allow_insecure_platform does not rescue hardware evidence that fails (another root)', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_chain' }, { root: 'trust/test-other-root.pem', insecure: true });

// every single-byte flip of the HCL report and of the TD quote
const HCL_UNAUTH = [
  { from: 0, to: 32, reason: 'the HCL header (version, size, request type) is not signed; HCLA is checked' },
  { from: 32, to: 64, reason: "the TD report's REPORTTYPE, reserved bytes and CPUSVN: not in the TD quote (the TCB is judged from the PCK certificate)" },
  { from: 224, to: 288, reason: "the TD report's reserved bytes and REPORTMAC: the MAC key never leaves the CPU; the quoting enclave checked it" },
  { from: 527, to: 544, reason: 'reserved bytes after TEE_TCB_INFO, outside both hashed regions' },
  { from: 1056, to: 1216, reason: 'padding after the 1,024-byte TD report' },
  { from: 1216, to: 1224, reason: "the request data's size and version fields" },
];
write(d, 'flip-testpki-hcl-report.vector.json', { description: 'every single-byte flip of the HCL report of the VERIFIED test-PKI report', mutate: { base: 'testpki-azure-tdx.vector.json', field: 'evidence.hcl_report', flip: 'xor-ff-each-byte', unauthenticated: HCL_UNAUTH }, expect: { verdict: 'REFUSED' } });
const quoteBytes = good.quote.bytes;
const rootPem = new TextEncoder().encode(pki.pem.root);
const rootAt = quoteBytes.length - 1 - rootPem.length;
write(d, 'flip-testpki-td-quote.vector.json', {
  description: 'every single-byte flip of the TD quote of the VERIFIED test-PKI report',
  mutate: {
    base: 'testpki-azure-tdx.vector.json', field: 'evidence.td_quote', flip: 'xor-ff-each-byte',
    unauthenticated: [
      { from: good.quote.chainOffset - 4, to: good.quote.chainOffset - 3, reason: "the low byte of the PCK chain's length: a flip shortens or lengthens the text only into the unused root copy (a longer length runs past the end and fails)" },
      { from: good.quote.chainOffset + pki.pem.pck.length - 1, to: good.quote.chainOffset + pki.pem.pck.length, reason: 'the line break between the PCK and the CA certificate: PEM armor, not certificate bytes' },
      { from: rootAt - 1, to: quoteBytes.length, reason: "the copy of the root CA at the end of the PCK chain (and the newline before it, the NUL after): never used — the verifier's own pinned root is" },
    ],
  },
  expect: { verdict: 'REFUSED' },
});

// the real Intel production TD quote in a home-made HCL report (every td_quote check can pass; only REPORTDATA stops it)
const intel = (f) => readFileSync(join(shared, 'intel-tdx', f));
const intelQuote = new Uint8Array(intel('tdx_prod_quote_SPR_E4.dat'));
const intelBody = intelQuote.subarray(48, 48 + 584);
const ks = await E.keySet(keys);
const rd = E.runtimeData(keys.akJwk, new Uint8Array([...ks.digest, ...new Uint8Array(32)]));
const homemade = E.hclReport(await E.tdReport(intelBody), rd);
write(d, 'reports/real-intel-quote-homemade-hcl.json', await E.report(keys, { evidence: { hcl_report: E.b64(homemade), td_quote: E.b64(intelQuote) }, claims: { platform: 'azure-tdx', tee_verified: true } }));
write(d, 'trust/intel-sgx-root.pem', intel('trusted_root.pem').toString());
write(d, 'collateral/intel-pcs-2023.json', {
  tcb_info: intel('sample_tcbInfo_response').toString(), tcb_info_issuer_chain: intel('tcbinfo-issuer-chain.pem').toString(),
  qe_identity: intel('sample_qeIdentity_response').toString(), qe_identity_issuer_chain: intel('qeidentity-issuer-chain.pem').toString(),
  pck_crl: intel('pckcrl').toString('base64'), pck_crl_issuer_chain: intel('pckcrl-issuer-chain.pem').toString(), root_crl: intel('rootcrl.der').toString('base64'),
});
const real = { root: 'trust/intel-sgx-root.pem', collateral: 'collateral/intel-pcs-2023.json', now: '2023-07-01T00:00:00Z' };
vector(d, 'real-intel-quote-homemade-hcl', "Intel's real production TD quote (not Azure's) wrapped in a home-made HCL report whose TD report copies the quote's body and whose runtime data holds a software AK and the key set: the tenant of any TD chooses REPORTDATA, which is not SHA-256 of this runtime data", 'reports/real-intel-quote-homemade-hcl.json', { verdict: 'REFUSED', failed_check: 'hcl_report.runtime_data' }, real);
vector(d, 'real-intel-quote-tcb-status', "the same: that platform's TCB is below every level of Intel's 2023 TCB info (its SGX components are older)", 'reports/real-intel-quote-homemade-hcl.json', { verdict: 'REFUSED', failed_check: 'td_quote.tcb_status' }, real);
vector(d, 'real-intel-quote-no-root', 'the same without an Intel root', 'reports/real-intel-quote-homemade-hcl.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_chain' }, { ...real, root: null });

// ── tests/vectors/testpki-dcap: the DCAP collateral forgeries ──
const j = JS_DIR;
write(j, 'collateral/test-pck-revoked.json', await E.collateral(pki, { revoked: [77] }));
vector(j, 'testpki-pck-revoked', 'the PCK certificate is listed in the PCK CRL', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_crl' }, { collateral: 'collateral/test-pck-revoked.json' });
vector(j, 'testpki-crl-stale', 'verified after the CRLs\' nextUpdate (and the collateral\'s): revocation is unknown', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_crl' }, { now: '2027-02-01T00:00:00Z' });
write(j, 'collateral/test-forged-tcb-info.json', await E.collateral(pki, { status: 'OutOfDate', tamper: 'tcb_info' }));
vector(j, 'testpki-forged-tcb-info', 'TCB info rewritten to say UpToDate (its signature no longer verifies)', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.collateral_signature' }, { collateral: 'collateral/test-forged-tcb-info.json' });
write(j, 'collateral/test-forged-qe-identity.json', await E.collateral(pki, { tamper: 'qe_identity' }));
vector(j, 'testpki-forged-qe-identity', 'QE identity rewritten (its signature no longer verifies)', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.qe_identity' }, { collateral: 'collateral/test-forged-qe-identity.json' });
const otherPki = await E.testPki();
write(j, 'collateral/test-signed-by-another-pki.json', await E.collateral(otherPki));
vector(j, 'testpki-collateral-another-signer', 'collateral and CRLs signed under another root than the PCK\'s', 'reports/azure-tdx-testpki.json', { verdict: 'REFUSED', failed_check: 'td_quote.collateral_signature' }, { collateral: 'collateral/test-signed-by-another-pki.json' });
vector(j, 'real-intel-quote-dcap-2026', "Intel's real quote and 2023 collateral checked in November 2026: the CRLs and the TCB signing certificate are no longer current", 'reports/real-intel-quote-homemade-hcl.json', { verdict: 'REFUSED', failed_check: 'td_quote.pck_crl' }, { ...real, now: '2026-11-24T00:00:00Z' });
write(j, 'reports/real-intel-quote-homemade-hcl.json', readFileSync(join(d, 'reports/real-intel-quote-homemade-hcl.json'), 'utf8'));
write(j, 'trust/intel-sgx-root.pem', intel('trusted_root.pem').toString());
write(j, 'collateral/intel-pcs-2023.json', readFileSync(join(d, 'collateral/intel-pcs-2023.json'), 'utf8'));

function fieldOf(body, f) {
  const at = { mrtd: [136, 48], rtmr0: [328, 48], rtmr1: [376, 48], rtmr2: [424, 48], rtmr3: [472, 48], mrseam: [16, 48], td_attributes: [120, 8], xfam: [128, 8] }[f];
  return E.hex(body.subarray(at[0], at[0] + at[1]));
}
console.log('wrote', SHARED_DIR, 'and', JS_DIR);
