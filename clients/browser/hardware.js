// The hardware roots: an Intel TDX DCAP quote (PCK chain to the pinned Intel root, CRLs, QE
// report, QE identity, attestation key, quote signature, collateral signed by Intel's TCB signing
// chain, TCB status) and an AMD SEV-SNP report (VCEK of that chip → ASK → ARK). Check names
// follow the .NET library (README "Checks"). Nothing here throws on hostile input.

import { subtle, hex, fromHex, fromBase64, concat, equal, sha256, u16le, u32le, utf8 } from './bytes.js';
import { parseStrictJson, isObject, member, has, text, JsonNumber } from './json.js';
import { parsePemCertificates, parseCrl, chainsTo, notRevoked, readPckExtensions, publicKeyOf, extensionValue, commonName, dnsName, verifySignedData } from './x509.js';

const pass = (name, reason) => ({ name, passed: true, reason });
const fail = (name, reason) => ({ name, passed: false, reason });

/** The TD quote body's fields (Intel TDX DCAP Quoting Library API, A.3.2). */
export function tdMeasurements(body) {
  const b = body.subarray(0, 584);
  return {
    teeTcbSvn: b.subarray(0, 16),
    mrSeam: b.subarray(16, 64),
    mrSignerSeam: b.subarray(64, 112),
    seamAttributes: b.subarray(112, 120),
    tdAttributes: b.subarray(120, 128),
    xfam: b.subarray(128, 136),
    mrtd: b.subarray(136, 184),
    tdInfoMeasurements: b.subarray(136, 520),
    rtmr: (i) => b.subarray(328 + 48 * i, 376 + 48 * i),
    reportData: b.subarray(520, 584),
    debug: (b[120] & 1) !== 0,
    field(name) {
      switch (name) {
        case 'mrtd': return hex(this.mrtd);
        case 'rtmr0': case 'rtmr1': case 'rtmr2': case 'rtmr3': return hex(this.rtmr(Number(name[4])));
        case 'mrseam': return hex(this.mrSeam);
        case 'td_attributes': return hex(this.tdAttributes);
        case 'xfam': return hex(this.xfam);
        default: return '';
      }
    },
  };
}

/** Parses a TDX quote v4/v5 exactly as the .NET TdxQuote.Parse does; throws Error(reason). */
export function parseTdQuote(q) {
  const need = (span, length, what) => { if (length > span.length || length < 0) throw new Error(`TDX quote: ${what} runs past the end`); };
  if (q.length < 48 + 4) throw new Error('TDX quote: too short');
  const version = u16le(q, 0);
  const keyType = u16le(q, 2);
  const teeType = u32le(q, 4);
  if (teeType !== 0x81) throw new Error(`TDX quote: TEE type 0x${teeType.toString(16)} is not TDX`);
  if (keyType !== 2) throw new Error(`TDX quote: attestation key type ${keyType} is not ECDSA-P256`);
  let bodyStart;
  let bodySize;
  if (version === 4) {
    [bodyStart, bodySize] = [48, 584];
  } else if (version === 5) {
    const type = u16le(q, 48);
    bodySize = u32le(q, 50);
    if (!(type === 2 || type === 3) || !(bodySize === 584 || bodySize === 648)) throw new Error(`TDX quote: body type ${type} of ${bodySize} bytes`);
    bodyStart = 54;
  } else {
    throw new Error(`TDX quote: version ${version} is not 4 or 5`);
  }
  let at = bodyStart + bodySize;
  need(q, at + 4, 'signature data length');
  const sigLength = u32le(q, at);
  at += 4;
  need(q, at + sigLength, 'signature data');
  const sig = q.subarray(at, at + sigLength);
  need(sig, 128 + 6, 'signature and attestation key');
  const certType = u16le(sig, 128);
  const certSize = u32le(sig, 130);
  if (certType !== 6) throw new Error(`TDX quote: certification data type ${certType} is not a QE report (6)`);
  need(sig, 134 + certSize, 'QE report certification data');
  const qe = sig.subarray(134, 134 + certSize);
  need(qe, 384 + 64 + 2, 'QE report');
  const authSize = u16le(qe, 448);
  need(qe, 450 + authSize + 6, 'QE auth data');
  const inner = qe.subarray(450 + authSize);
  const innerType = u16le(inner, 0);
  const innerSize = u32le(inner, 2);
  if (innerType !== 5) throw new Error(`TDX quote: certification data type ${innerType} is not a PCK chain (5)`);
  need(inner, 6 + innerSize, 'PCK chain');
  const pem = new TextDecoder('latin1').decode(inner.subarray(6, 6 + innerSize)).replace(/\0+$/, '');
  const chain = parsePemCertificates(pem);
  if (!chain) throw new Error('TDX quote: a certificate in the PCK chain does not parse');
  if (chain.length === 0) throw new Error('TDX quote: no certificates in the PCK chain');
  return {
    version,
    signedBytes: q.subarray(0, bodyStart + bodySize),
    body: q.subarray(bodyStart, bodyStart + bodySize),
    signature: sig.subarray(0, 64),
    attestationKey: sig.subarray(64, 128),
    qeReport: qe.subarray(0, 384),
    qeReportSignature: qe.subarray(384, 448),
    qeAuthData: qe.subarray(450, 450 + authSize),
    pckChain: chain,
  };
}

async function verifyP256(key, signature, data) {
  try {
    return await subtle().verify({ name: 'ECDSA', hash: 'SHA-256' }, key, signature, data);
  } catch {
    return false;
  }
}

async function rawP256Key(point) {
  try {
    return await subtle().importKey('raw', concat(Uint8Array.of(4), point), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  } catch {
    return null;
  }
}

/**
 * A DCAP collateral bundle (tests/vectors/README.md) read strictly: the TCB info and QE identity
 * keep their exact text (the signature covers the bytes of the tcbInfo / enclaveIdentity value).
 */
export function readCollateral(bundle) {
  if (bundle === null || bundle === undefined) return null;
  try {
    const b = typeof bundle === 'string' ? parseStrictJson(bundle).value : bundle;
    if (!isObject(b)) return { error: 'the collateral bundle is not a JSON object' };
    return {
      tcbInfo: text(b, 'tcb_info'),
      tcbInfoIssuerChain: text(b, 'tcb_info_issuer_chain'),
      qeIdentity: text(b, 'qe_identity'),
      qeIdentityIssuerChain: text(b, 'qe_identity_issuer_chain'),
      pckCrl: fromBase64(text(b, 'pck_crl') ?? ''),
      pckCrlIssuerChain: text(b, 'pck_crl_issuer_chain'),
      rootCrl: fromBase64(text(b, 'root_crl') ?? ''),
    };
  } catch (e) {
    return { error: `the collateral bundle is not JSON: ${e.message}` };
  }
}

/**
 * A signed PCS document ({"tcbInfo": {…}, "signature": "hex r‖s"}): the signature over the exact
 * bytes of `field`'s value by the first certificate of the issuer chain, that chains to the root at `at`.
 * @returns {Promise<{ok: boolean, why: string, value?: object}>}
 */
async function signedDocument(docText, field, issuerChainPem, root, at) {
  if (typeof docText !== 'string') return { ok: false, why: `no ${field} in the collateral` };
  let parsed;
  try {
    parsed = parseStrictJson(docText);
  } catch (e) {
    return { ok: false, why: `${field} is not JSON: ${e.message}` };
  }
  const span = parsed.spans.get(field);
  const value = member(parsed.value, field);
  const signature = fromHex(text(parsed.value, 'signature') ?? '');
  if (!span || !isObject(value)) return { ok: false, why: `the document has no ${field} object` };
  if (!signature || signature.length !== 64) return { ok: false, why: `the ${field} signature is not 64 bytes of hex` };
  const chain = parsePemCertificates(issuerChainPem ?? '');
  if (!chain || chain.length === 0) return { ok: false, why: `no issuer chain for ${field}` };
  const signer = chain[0];
  const path = await chainsTo(signer, chain.slice(1), root, at);
  if (!path.ok) return { ok: false, why: `the ${field} signer does not chain to the Intel root: ${path.why}` };
  if (commonName(signer) !== 'Intel SGX TCB Signing') return { ok: false, why: `the ${field} is signed by '${commonName(signer)}', not an Intel SGX TCB Signing certificate` };
  const key = await publicKeyOf(signer, { name: 'ECDSA', namedCurve: 'P-256' });
  if (!key || !(await verifyP256(key, signature, utf8.encode(docText.slice(span[0], span[1])))))
    return { ok: false, why: `the ${field} signature does not verify with ${commonName(signer)}` };
  const issued = Date.parse(text(value, 'issueDate') ?? '');
  const next = Date.parse(text(value, 'nextUpdate') ?? '');
  if (!(issued <= at.getTime() && at.getTime() <= next)) return { ok: false, why: `${field} is not current at ${at.toISOString()} (issued ${text(value, 'issueDate')}, next update ${text(value, 'nextUpdate')})` };
  return { ok: true, why: '', value };
}

const PCK_CA_NAMES = ['Intel SGX PCK Platform CA', 'Intel SGX PCK Processor CA'];
const issuerCommonName = (c) => c.cert.issuer.typesAndValues.find((t) => t.type === '2.5.4.3')?.value?.valueBlock?.value ?? '(no CN)';

const int = (v) => (v instanceof JsonNumber && /^-?[0-9]+$/.test(v.raw) ? Number(v.raw) : null);

/** SEAMATTRIBUTES & attributesMask = attributes (8 bytes each), as Intel's QVL compares them; throws on malformed collateral. */
function seamAttributesMatch(identity, seamAttributes) {
  const attributes = fromHex(text(identity, 'attributes') ?? '');
  const mask = fromHex(text(identity, 'attributesMask') ?? '');
  if (!attributes || !mask || attributes.length !== 8 || mask.length !== 8) throw new Error('TDX module attributes are not 8 bytes');
  return seamAttributes.every((b, i) => (b & mask[i]) === attributes[i]);
}

/** TCB status under verified TDX TCB info, as the .NET TdxTcb.Evaluate gives it. */
function evaluateTcb(quote, pck, info) {
  if (text(info, 'id') !== 'TDX') return { status: 'Unrecognized', reason: 'the collateral is not TDX TCB info' };
  const fmspc = hex(pck.fmspc);
  if ((text(info, 'fmspc') ?? '').toLowerCase() !== fmspc) return { status: 'Unrecognized', reason: `the collateral is for FMSPC ${text(info, 'fmspc')}, the platform is ${fmspc}` };
  const teeTcbSvn = quote.body.subarray(0, 16);
  // TDX module version rules (Intel QVL, TCB info v3), as .NET applies them: a TEE_TCB_SVN whose
  // byte 1 (the module's major version) is non-zero is matched against tdxModuleIdentities
  // "TDX_<major as two hex digits>" (case-insensitive), its SEAMATTRIBUTES must match the
  // identity's attributes under its mask, and its bytes 0–1 are then left out of the
  // tdxtcbcomponents comparison.
  const version = int(member(info, 'version'));
  if (version === null) throw new Error('the TCB info has no version');
  const moduleVersion = teeTcbSvn[1];
  const mrSignerSeam = hex(quote.body.subarray(64, 112));
  const seamAttributes = quote.body.subarray(112, 120);
  let moduleNote = '';
  if (version >= 3 && moduleVersion > 0) {
    const moduleId = `TDX_${moduleVersion.toString(16).toUpperCase().padStart(2, '0')}`;
    const ids = member(info, 'tdxModuleIdentities');
    const identity = Array.isArray(ids) ? ids.find((i) => (text(i, 'id') ?? '').toUpperCase() === moduleId) : undefined;
    if (!isObject(identity)) return { status: 'Unrecognized', reason: `the TCB info has no identity for TDX module ${moduleId}` };
    if ((text(identity, 'mrsigner') ?? '').toLowerCase() !== mrSignerSeam) return { status: 'Unrecognized', reason: `the TDX module's MRSIGNERSEAM is not ${moduleId}'s` };
    if (!seamAttributesMatch(identity, seamAttributes)) return { status: 'Unrecognized', reason: `the TDX module's SEAMATTRIBUTES ${hex(seamAttributes)} do not match ${moduleId}'s under its mask` };
    const moduleLevels = member(identity, 'tcbLevels');
    if (!Array.isArray(moduleLevels)) throw new Error(`${moduleId} has no tcbLevels`);
    const moduleLevel = moduleLevels.find((l) => { const v = int(member(member(l, 'tcb'), 'isvsvn')); if (v === null) throw new Error('a module level has no isvsvn'); return teeTcbSvn[0] >= v; });
    if (!moduleLevel) return { status: 'Unrecognized', reason: `the TDX module SVN ${teeTcbSvn[0]} is below every ${moduleId} level` };
    const moduleStatus = text(moduleLevel, 'tcbStatus') ?? 'Unrecognized';
    if (moduleStatus !== 'UpToDate') return { status: moduleStatus, reason: `the TDX module ${moduleId} SVN ${teeTcbSvn[0]} is ${moduleStatus}` };
    moduleNote = `, TDX module ${moduleId} SVN ${teeTcbSvn[0]} UpToDate`;
  } else if (has(info, 'tdxModule')) {
    if ((text(member(info, 'tdxModule'), 'mrsigner') ?? '').toLowerCase() !== mrSignerSeam)
      return { status: 'Unrecognized', reason: "the TDX module's MRSIGNERSEAM is not the TCB info's tdxModule.mrsigner" };
    if (!seamAttributesMatch(member(info, 'tdxModule'), seamAttributes))
      return { status: 'Unrecognized', reason: `the TDX module's SEAMATTRIBUTES ${hex(seamAttributes)} do not match the TCB info's tdxModule under its mask` };
  }
  const skip = version >= 3 && moduleVersion > 0 ? 2 : 0;
  const levels = member(info, 'tcbLevels');
  if (!Array.isArray(levels)) throw new Error('tcbLevels is not a list');
  for (const level of levels) {
    const tcb = member(level, 'tcb');
    const sgx = member(tcb, 'sgxtcbcomponents');
    const tdx = member(tcb, 'tdxtcbcomponents');
    const pceSvn = int(member(tcb, 'pcesvn'));
    if (!Array.isArray(sgx) || !Array.isArray(tdx) || pceSvn === null || sgx.length > 16 || tdx.length > 16) throw new Error('a TCB level is malformed');
    const svn = (c) => { const v = int(member(c, 'svn')); if (v === null) throw new Error('a TCB component has no svn'); return v; };
    const reached = sgx.every((c, i) => pck.components[i] >= svn(c)) && pck.pceSvn >= pceSvn && tdx.every((c, i) => i < skip || teeTcbSvn[i] >= svn(c));
    if (!reached) continue;
    const status = text(level, 'tcbStatus') ?? 'Unrecognized';
    const advisories = member(level, 'advisoryIDs');
    const ids = Array.isArray(advisories) ? advisories.filter((a) => typeof a === 'string') : [];
    return {
      status,
      tcbDate: text(level, 'tcbDate'),
      advisoryIds: ids,
      reason: `the platform (FMSPC ${fmspc}, PCESVN ${pck.pceSvn}, TEE_TCB_SVN ${hex(teeTcbSvn.subarray(0, 4))}…${moduleNote}) reaches the level of ${text(level, 'tcbDate')}${ids.length ? ` (advisories ${ids.join(', ')})` : ''}`,
    };
  }
  return { status: 'Unrecognized', reason: "the platform's TCB is below every level in the collateral" };
}

/** The QE report against verified QE identity collateral: MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES, ISVSVN level. */
function matchQeIdentity(qeReport, identity, accept) {
  const masked = (value, expected, mask) => {
    const e = fromHex(expected ?? '');
    const m = fromHex(mask ?? '');
    if (!e || !m || e.length !== value.length || m.length !== value.length) return false;
    return value.every((b, i) => (b & m[i]) === (e[i] & m[i]));
  };
  const miscselect = qeReport.subarray(16, 20);
  const attributes = qeReport.subarray(48, 64);
  const mrsigner = qeReport.subarray(128, 160);
  const isvprodid = u16le(qeReport, 256);
  const isvsvn = u16le(qeReport, 258);
  if (hex(mrsigner) !== (text(identity, 'mrsigner') ?? '').toLowerCase()) return { ok: false, why: `MRSIGNER ${hex(mrsigner).slice(0, 16)}… is not the quoting enclave's signer` };
  if (isvprodid !== int(member(identity, 'isvprodid'))) return { ok: false, why: `ISVPRODID ${isvprodid} is not the quoting enclave's` };
  if (!masked(miscselect, text(identity, 'miscselect'), text(identity, 'miscselectMask'))) return { ok: false, why: 'MISCSELECT does not match under its mask' };
  if (!masked(attributes, text(identity, 'attributes'), text(identity, 'attributesMask'))) return { ok: false, why: 'ATTRIBUTES do not match under their mask' };
  const levels = member(identity, 'tcbLevels');
  if (!Array.isArray(levels)) return { ok: false, why: 'the QE identity has no TCB levels' };
  for (const level of levels) {
    const svn = int(member(member(level, 'tcb'), 'isvsvn'));
    if (svn === null || isvsvn < svn) continue;
    const status = text(level, 'tcbStatus') ?? 'Unrecognized';
    return accept.includes(status)
      ? { ok: true, why: `the quoting enclave (ISVSVN ${isvsvn}) is Intel's, ${status}` }
      : { ok: false, why: `the quoting enclave's TCB (ISVSVN ${isvsvn}) is ${status}, not accepted (${accept.join(', ')})` };
  }
  return { ok: false, why: `the quoting enclave's ISVSVN ${isvsvn} is below every level` };
}

/**
 * Every DCAP check of a TD quote, under the names and in the order of the .NET Dcap.VerifyTdQuote:
 * format, pck_chain, qe_report_signature, qe_report_binds_key, quote_signature, collateral,
 * pck_crl, root_crl, collateral_signature, qe_identity, tcb_status.
 * @param {{intelRoot: object|null, collateral: object|null, now: Date, tcbAccept: string[]}} o
 * @returns {Promise<{checks: object[], quote: object|null, tcb: object|null}>}
 */
export async function verifyTdQuote(bytes, o) {
  const checks = [];
  let quote;
  try {
    quote = parseTdQuote(bytes);
    checks.push(pass('td_quote.format', `a TDX quote, version ${quote.version}`));
  } catch (e) {
    checks.push(fail('td_quote.format', e.message));
    return { checks, quote: null, tcb: null };
  }
  if (!o.intelRoot) {
    checks.push(fail('td_quote.pck_chain', 'no Intel SGX root given to check the TD quote against'));
    return { checks, quote, tcb: null };
  }
  const pck = quote.pckChain[0];
  const pckTcb = readPckExtensions(pck);
  const path = await chainsTo(pck, quote.pckChain.slice(1), o.intelRoot, o.now);
  checks.push(!path.ok ? fail('td_quote.pck_chain', `the PCK chain does not reach the pinned Intel root at ${o.now.toISOString()}: ${path.why}`)
    : !pckTcb || !PCK_CA_NAMES.includes(issuerCommonName(pck)) ? fail('td_quote.pck_chain', `the leaf is not a PCK certificate (needs the SGX extensions with FMSPC and TCB and an Intel SGX PCK Platform/Processor CA issuer; issuer is '${issuerCommonName(pck)}')`)
      : pass('td_quote.pck_chain', `the PCK certificate (issuer ${issuerCommonName(pck)}) chains to ${commonName(o.intelRoot)}`));
  const pckKey = await publicKeyOf(pck, { name: 'ECDSA', namedCurve: 'P-256' });
  checks.push(pckKey && await verifyP256(pckKey, quote.qeReportSignature, quote.qeReport)
    ? pass('td_quote.qe_report_signature', "the quoting enclave's report is signed by the PCK key")
    : fail('td_quote.qe_report_signature', 'the QE report signature does not verify with the PCK key'));
  checks.push(equal(await sha256(concat(quote.attestationKey, quote.qeAuthData)), quote.qeReport.subarray(320, 352)) && quote.qeReport.subarray(352, 384).every((b) => b === 0)
    ? pass('td_quote.qe_report_binds_key', 'QE REPORTDATA = SHA-256(attestation key ‖ QE auth data)')
    : fail('td_quote.qe_report_binds_key', 'the QE report does not bind this attestation key'));
  const ak = await rawP256Key(quote.attestationKey);
  checks.push(ak && await verifyP256(ak, quote.signature, quote.signedBytes)
    ? pass('td_quote.quote_signature', 'header and TD body are signed by the attestation key')
    : fail('td_quote.quote_signature', 'the quote signature does not verify with the attestation key'));

  const c = o.collateral;
  const missing = !c ? null : c.error ?? ['tcbInfo', 'tcbInfoIssuerChain', 'qeIdentity', 'qeIdentityIssuerChain', 'pckCrlIssuerChain']
    .filter((k) => typeof c[k] !== 'string').concat(c.pckCrl?.length ? [] : ['pckCrl'], c.rootCrl?.length ? [] : ['rootCrl'])
    .map((k) => `the collateral bundle has no ${k}`)[0];
  if (!c || missing) {
    checks.push(fail('td_quote.collateral', missing ?? 'no Intel PCS collateral was given: without TCB info, QE identity and CRLs the quote cannot be VERIFIED'));
    return { checks, quote, tcb: null };
  }
  checks.push(pass('td_quote.collateral', 'Intel PCS collateral given'));
  checks.push(await guard('td_quote.pck_crl', () => pckCrlCheck(quote, c, o)));
  checks.push(await guard('td_quote.root_crl', () => rootCrlCheck(quote, c, o)));
  checks.push(await guard('td_quote.collateral_signature', () => collateralSignature(c, o)));
  checks.push(await guard('td_quote.qe_identity', () => {
    const doc = parseStrictJson(c.qeIdentity);
    const identity = member(doc.value, 'enclaveIdentity');
    if (!isObject(identity)) throw new Error('the QE identity has no enclaveIdentity');
    if (text(identity, 'id') !== 'TD_QE') return fail('td_quote.qe_identity', `the QE identity is for '${text(identity, 'id')}', not TD_QE`);
    const match = matchQeIdentity(quote.qeReport, identity, o.tcbAccept);
    return match.ok ? pass('td_quote.qe_identity', match.why) : fail('td_quote.qe_identity', match.why);
  }));
  let tcb = null;
  checks.push(await guard('td_quote.tcb_status', () => {
    const info = member(parseStrictJson(c.tcbInfo).value, 'tcbInfo');
    if (!isObject(info)) throw new Error('the TCB info has no tcbInfo');
    if (!pckTcb) throw new Error("the PCK certificate's SGX extensions are missing or malformed");
    tcb = evaluateTcb(quote, pckTcb, info);
    return o.tcbAccept.includes(tcb.status)
      ? pass('td_quote.tcb_status', `TCB ${tcb.status}: ${tcb.reason}`)
      : fail('td_quote.tcb_status', `TCB ${tcb.status}, not accepted (${o.tcbAccept.join(', ')}): ${tcb.reason}`);
  }));
  return { checks, quote, tcb };
}

/** A check that turns malformed evidence or collateral into a failure under its name, as .NET's Dcap.Guard. */
async function guard(name, check) {
  try {
    return await check();
  } catch (e) {
    return fail(name, `malformed evidence or collateral: ${e?.message ?? e}`);
  }
}

/** The PCK CRL: issued by the PCK certificate's CA (its issuer chain reaching the pinned root), signed, current, not listing the PCK. */
async function pckCrlCheck(quote, c, o) {
  const name = 'td_quote.pck_crl';
  const issuerChain = parsePemCertificates(c.pckCrlIssuerChain);
  if (!issuerChain || issuerChain.length === 0) throw new Error('PCK CRL issuer chain: no certificates');
  const path = await chainsTo(issuerChain[0], issuerChain.slice(1), o.intelRoot, o.now);
  if (!path.ok) return fail(name, `the PCK CRL issuer chain does not reach the pinned root: ${path.why}`);
  const pck = quote.pckChain[0];
  if (issuerCommonName(pck) !== commonName(issuerChain[0])) return fail(name, "the PCK CRL is issued by another CA than the PCK certificate's issuer");
  const r = await notRevoked(parseCrl(c.pckCrl), issuerChain[0], pck, o.now);
  return r.ok ? pass(name, 'the PCK certificate is not in the PCK CRL, which is signed and current') : fail(name, `PCK CRL: ${r.why}`);
}

/** The root CA CRL: issued and signed by the pinned root, current, listing none of the intermediate or signing certificates. */
async function rootCrlCheck(quote, c, o) {
  const name = 'td_quote.root_crl';
  const certs = [...quote.pckChain.slice(1)];
  for (const pem of [c.tcbInfoIssuerChain, c.qeIdentityIssuerChain, c.pckCrlIssuerChain]) {
    const chain = parsePemCertificates(pem);
    if (!chain || chain.length === 0) throw new Error('an issuer chain in the collateral has no certificates');
    certs.push(...chain);
  }
  const crl = parseCrl(c.rootCrl);
  const rootDer = o.intelRoot.der ?? null;
  for (const cert of certs) {
    if (rootDer && cert.der && equal(cert.der, rootDer)) continue;
    const r = await notRevoked(crl, o.intelRoot, cert, o.now);
    if (!r.ok) return fail(name, `root CRL: ${r.why}`);
  }
  if (certs.length === 0) {
    const r = await notRevoked(crl, o.intelRoot, o.intelRoot, o.now);
    if (!r.ok) return fail(name, `root CRL: ${r.why}`);
  }
  return pass(name, 'no intermediate CA or signing certificate is in the root CRL, which is signed and current');
}

/** TCB info and QE identity: signed by an Intel SGX TCB Signing certificate chained to the pinned root, and current. */
async function collateralSignature(c, o) {
  const name = 'td_quote.collateral_signature';
  for (const [doc, field, chain] of [[c.tcbInfo, 'tcbInfo', c.tcbInfoIssuerChain], [c.qeIdentity, 'enclaveIdentity', c.qeIdentityIssuerChain]]) {
    const r = await signedDocument(doc, field, chain, o.intelRoot, o.now);
    if (!r.ok) return fail(name, r.why);
  }
  return pass(name, 'TCB info and QE identity are signed by Intel\'s TCB signing certificate, chained to the pinned root, and current');
}

const SNP_REPORT_SIZE = 1184;

const SNP_SIGNED = 0x2a0;
const HWID_OID = '1.3.6.1.4.1.3704.1.4';

/** The VCEK's hwID extension value (64 bytes), or null. */
function hwId(vcek) {
  const raw = extensionValue(vcek, HWID_OID);
  if (!raw) return null;
  if (raw.length === 64) return raw;
  if (raw.length === 66 && raw[0] === 0x04 && raw[1] === 0x40) return raw.subarray(2);
  return null;
}

/** An SNP signature component (72 bytes little-endian) as 48 big-endian bytes, or null. */
function snpComponent(le) {
  if (le.subarray(48).some((b) => b !== 0)) return null;
  return Uint8Array.from(le.subarray(0, 48)).reverse();
}

/**
 * An SEV-SNP report: the VCEK chain in the report (`evidence.snp_vcek_chain`, PEM VCEK, ASK, …)
 * to the given ARK, the VCEK's hwID = the report's CHIP_ID, and the report's ECDSA P-384 signature.
 */
export async function verifySnp(snpReport, chainPem, o) {
  const checks = [];
  if (typeof chainPem !== 'string') {
    checks.push(fail('snp.vcek_chain', 'an SEV-SNP HCL report without the VCEK certificate chain: its signature cannot be checked'));
    return { checks, ok: false };
  }
  const chain = parsePemCertificates(chainPem);
  let vcek = null;
  if (!chain || chain.length === 0) checks.push(fail('snp.vcek_chain', 'the VCEK chain does not parse'));
  else if (!o.amdArk) checks.push(fail('snp.vcek_chain', 'no AMD ARK given to check the VCEK chain against'));
  else {
    const path = await chainsTo(chain[0], chain.slice(1), o.amdArk, o.now);
    if (path.ok) vcek = chain[0];
    checks.push(path.ok ? pass('snp.vcek_chain', `VCEK → ${path.path.slice(1).map(commonName).join(' → ')}`)
      : fail('snp.vcek_chain', `the VCEK does not chain to the given ARK: ${path.why}`));
  }
  let signed = false;
  let why = 'no verified VCEK to check the SNP report with';
  if (vcek) {
    const report = snpReport.subarray(0, SNP_REPORT_SIZE);
    const algo = u32le(report, 52);
    const id = hwId(vcek);
    const chip = report.subarray(0x1a0, 0x1e0);
    if (algo !== 1) why = `signature algorithm ${algo} is not ECDSA P-384 with SHA-384`;
    else if (!id || !equal(id, chip)) why = `the VCEK is another chip's (hwID ${id ? hex(id).slice(0, 16) : '?'}…, the report's CHIP_ID ${hex(chip).slice(0, 16)}…)`;
    else {
      const r = snpComponent(report.subarray(SNP_SIGNED, SNP_SIGNED + 72));
      const s = snpComponent(report.subarray(SNP_SIGNED + 72, SNP_SIGNED + 144));
      const key = await publicKeyOf(vcek, { name: 'ECDSA', namedCurve: 'P-384' });
      try {
        signed = !!(r && s && key) && await subtle().verify({ name: 'ECDSA', hash: 'SHA-384' }, key, concat(r, s), report.subarray(0, SNP_SIGNED));
      } catch {
        signed = false;
      }
      why = 'the SNP report signature does not verify with the VCEK';
    }
  }
  checks.push(signed ? pass('snp.report_signature', "the SNP report is signed by this chip's VCEK") : fail('snp.report_signature', why));
  return { checks, ok: checks.every((c) => c.passed) };
}

/**
 * The Azure IMDS attested document (PKCS#7 SignedData over JSON, signed under metadata.azure.com):
 * identity of the VM, not freshness. `roots`: PEM certificates; none given fails imds.chain (a
 * page has no system trust store to fall back to).
 */
export async function verifyImds(signatureBase64, roots, now) {
  const checks = [];
  const der = fromBase64(typeof signatureBase64 === 'string' ? signatureBase64 : '');
  let sd;
  try {
    if (!der) throw new Error('not base64');
    sd = await verifySignedData(der);
    if (sd.signers === 1 && !sd.verified) throw new Error('the signature does not verify');
  } catch (e) {
    checks.push(fail('imds.signature', `the attested document's signature does not verify: ${e?.message ?? e}`));
    return checks;
  }
  checks.push(pass('imds.signature', 'the PKCS#7 signature verifies'));
  if (sd.signers !== 1) {
    checks.push(fail('imds.signer', `${sd.signers} signers; one expected`));
    return checks;
  }
  const name = sd.signer ? dnsName(sd.signer) : null;
  checks.push(sd.signer && (name === 'metadata.azure.com' || name?.endsWith('.metadata.azure.com'))
    ? pass('imds.signer', `signed by ${name}`) : fail('imds.signer', `signed by '${name}', not metadata.azure.com`));
  if (sd.signer) {
    const anchors = (roots ?? []).flatMap((r) => (typeof r === 'string' ? parsePemCertificates(r) ?? [] : [r]));
    let why = 'no IMDS roots given (a browser has no system trust store to check against)';
    let ok = false;
    for (const root of anchors) {
      const path = await chainsTo(sd.signer, sd.certificates, root, now);
      if (path.ok) { ok = true; break; }
      why = path.why;
    }
    checks.push(ok ? pass('imds.chain', 'the signer chains to a trusted root') : fail('imds.chain', `the signer does not chain to a trusted root: ${why}`));
  }
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(sd.content ?? new Uint8Array(0)));
  } catch (e) {
    checks.push(fail('imds.content', `the signed content is not JSON: ${e.message}`));
  }
  return checks;
}
