// Software-made evidence for tests and vectors, on WebCrypto and pkijs: a software "vTPM" (an RSA
// AK signing TPMS_ATTEST quotes), a key set, and Azure-TDX-shaped evidence under a TEST PKI shaped
// like Intel's (root → PCK platform CA → PCK with SGX extensions; TCB signing certificate; CRLs;
// signed TCB info and QE identity). Trusted only by tests: nothing here is a hardware root.

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
export const b64 = (b) => Buffer.from(b).toString('base64');
const sha = async (alg, b) => new Uint8Array(await subtle.digest(alg, b));
const concat = (...parts) => { const o = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let a = 0; for (const p of parts) { o.set(p, a); a += p.length; } return o; };
const u16be = (v) => Uint8Array.of(v >> 8, v & 0xff);
const u32be = (v) => Uint8Array.of(v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
const u16le = (v) => Uint8Array.of(v & 0xff, v >> 8);
const u32le = (v) => Uint8Array.of(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
const u64be = (v) => { const o = new Uint8Array(8); new DataView(o.buffer).setBigUint64(0, BigInt(v)); return o; };

pkijs.setEngine('evidence', new pkijs.CryptoEngine({ name: 'evidence', crypto: globalThis.crypto }));

export const NONCE = Uint8Array.from({ length: 32 }, (_, i) => 0x50 + i);

// ───────── software vTPM and key set ─────────

export async function softwareKeys() {
  const ak = await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: 'SHA-256' }, true, ['sign', 'verify']);
  const signing = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const sealing = globalThis.crypto.getRandomValues(new Uint8Array(32));
  return {
    ak,
    akSpki: new Uint8Array(await subtle.exportKey('spki', ak.publicKey)),
    akJwk: await subtle.exportKey('jwk', ak.publicKey),
    signing,
    signingSpki: new Uint8Array(await subtle.exportKey('spki', signing.publicKey)),
    sealing,
  };
}

/** The report's key_set and its digest (PROTOCOL.md "Key set"). */
export async function keySet(keys) {
  const entries = [
    { purpose: 'answer-signing', alg: 'ES256', key: keys.signingSpki, service: 'inference-worker' },
    { purpose: 'body-sealing', alg: 'HPKE-X25519-SHA256-AES256GCM', key: keys.sealing, service: 'gateway' },
  ];
  const lines = [...new Set(entries.map((e) => `${e.purpose} ${e.alg} ${b64(e.key)}\n`))].sort();
  const digest = await sha('SHA-256', utf8.encode(`tee-aspire/key-set/v1\n${lines.join('')}`));
  const json = { version: 1, keys: await Promise.all(entries.map(async (e) => ({ purpose: e.purpose, alg: e.alg, public_key: b64(e.key), fingerprint: hex(await sha('SHA-256', e.key)), service: e.service }))), digest: hex(digest) };
  return { json, digest };
}

export const PCRS = Array.from({ length: 24 }, (_, i) => new Uint8Array(32).fill(i < 17 || i === 23 ? 0 : 0xff));

/** TPMS_ATTEST of a quote over the sha256 bank. */
export async function attest(extra, selected) {
  const bitmap = new Uint8Array(3);
  for (const i of selected) bitmap[i >> 3] |= 1 << (i & 7);
  const digest = await sha('SHA-256', concat(...[...selected].sort((a, b) => a - b).map((i) => PCRS[i])));
  const name = concat(u16be(0x000b), await sha('SHA-256', utf8.encode('software ak')));
  return concat(u32be(0xff544347), u16be(0x8018), u16be(name.length), name, u16be(extra.length), extra,
    u64be(123456), u32be(1), u32be(0), Uint8Array.of(1), u64be(0x2023_0000_0000),
    u32be(1), u16be(0x000b), Uint8Array.of(3), bitmap, u16be(digest.length), digest);
}

/** A report as GET /attestation?nonce= serves it, from software evidence. */
export async function report(keys, { nonce = NONCE, selected = [...Array(24).keys()], extra = null, evidence = {}, claims = {} } = {}) {
  const ks = await keySet(keys);
  const x = extra ?? await sha('SHA-256', concat(nonce, ks.digest));
  const message = await attest(x, selected);
  const signature = new Uint8Array(await subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, keys.ak.privateKey, message));
  const pcrs = {};
  for (const i of selected) pcrs[String(i)] = hex(PCRS[i]);
  return {
    platform: 'none', tee_verified: false, nonce: hex(nonce), replayable: false, key_set: ks.json, ...claims,
    evidence: {
      tpm_quote: { message: b64(message), signature: b64(signature), signature_alg: 'rsassa-pkcs1v15-sha256', ak_public: b64(keys.akSpki), ak_handle: '0x81000003', extra_data: hex(x), pcrs: { sha256: pcrs } },
      ...evidence,
    },
  };
}

// ───────── a test PKI shaped like Intel's ─────────

const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const newKey = () => subtle.generateKey(EC, true, ['sign', 'verify']);

// Intel's names (the verifiers require them), O=Not Intel, each attribute its own RDN (DER: a
// multi-valued RDN would need its SET sorted, and re-encoding verifiers would see other bytes).
function name(cn) {
  const rdn = (oid, value) => new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Utf8String({ value })] })] });
  const der = new asn1js.Sequence({ value: [rdn('2.5.4.3', cn), rdn('2.5.4.10', 'Not Intel (test PKI)')] }).toBER(false);
  return new pkijs.RelativeDistinguishedNames({ schema: asn1js.fromBER(der).result });
}

async function certificate({ cn, key, issuerCn, issuerKey, serial, from, to, ca, extensions = [] }) {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: serial });
  cert.subject = name(cn);
  cert.issuer = name(issuerCn);
  cert.notBefore.value = from;
  cert.notAfter.value = to;
  cert.extensions = [
    new pkijs.Extension({ extnID: '2.5.29.19', critical: true, extnValue: new pkijs.BasicConstraints({ cA: ca }).toSchema().toBER(false), parsedValue: new pkijs.BasicConstraints({ cA: ca }) }),
    ...extensions,
  ];
  await cert.subjectPublicKeyInfo.importKey(key.publicKey);
  await cert.sign(issuerKey.privateKey, 'SHA-256');
  return cert;
}

const pem = (cert) => `-----BEGIN CERTIFICATE-----\n${b64(new Uint8Array(cert.toSchema().toBER(false))).match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;

/** Intel's SGX extensions (FMSPC, 16 CPUSVN components, PCESVN) as the PCK certificate carries them. */
function sgxExtension(fmspc, svn) {
  const seq = (...v) => new asn1js.Sequence({ value: v });
  const oid = (v) => new asn1js.ObjectIdentifier({ value: v });
  const tcb = [];
  for (let i = 1; i <= 17; i++) tcb.push(seq(oid(`1.2.840.113741.1.13.1.2.${i}`), new asn1js.Integer({ value: svn })));
  const value = seq(seq(oid('1.2.840.113741.1.13.1.2'), seq(...tcb)), seq(oid('1.2.840.113741.1.13.1.4'), new asn1js.OctetString({ valueHex: fmspc })));
  return new pkijs.Extension({ extnID: '1.2.840.113741.1.13.1', critical: false, extnValue: value.toBER(false) });
}

async function crl({ issuerCn, issuerKey, from, to, revoked = [] }) {
  const c = new pkijs.CertificateRevocationList();
  c.version = 1;
  c.issuer = name(issuerCn);
  c.thisUpdate = new pkijs.Time({ type: 0, value: from });
  c.nextUpdate = new pkijs.Time({ type: 0, value: to });
  if (revoked.length) c.revokedCertificates = revoked.map((serial) => new pkijs.RevokedCertificate({ userCertificate: new asn1js.Integer({ value: serial }), revocationDate: new pkijs.Time({ type: 0, value: from }) }));
  await c.sign(issuerKey.privateKey, 'SHA-256');
  return b64(new Uint8Array(c.toSchema(true).toBER(false)));
}

export const TEST_NOW = new Date('2026-06-01T00:00:00Z');
export const FMSPC = '00806f050000';
const years = (n) => new Date(TEST_NOW.getTime() + n * 365 * 86400_000);

/** The PKI: root, PCK platform CA, PCK, TCB signing; and a way to sign PCS documents with it. */
export async function testPki({ pckSvn = 3, pckFrom = years(-1), pckTo = years(1) } = {}) {
  const k = { root: await newKey(), ca: await newKey(), pck: await newKey(), tcb: await newKey(), qeAk: await newKey() };
  const root = await certificate({ cn: 'Intel SGX Root CA', key: k.root, issuerCn: 'Intel SGX Root CA', issuerKey: k.root, serial: 1, from: years(-5), to: years(5), ca: true });
  const ca = await certificate({ cn: 'Intel SGX PCK Platform CA', key: k.ca, issuerCn: 'Intel SGX Root CA', issuerKey: k.root, serial: 2, from: years(-3), to: years(3), ca: true });
  const pck = await certificate({ cn: 'Intel SGX PCK Certificate', key: k.pck, issuerCn: 'Intel SGX PCK Platform CA', issuerKey: k.ca, serial: 77, from: pckFrom, to: pckTo, ca: false, extensions: [sgxExtension(Uint8Array.from(Buffer.from(FMSPC, 'hex')), pckSvn)] });
  const tcb = await certificate({ cn: 'Intel SGX TCB Signing', key: k.tcb, issuerCn: 'Intel SGX Root CA', issuerKey: k.root, serial: 3, from: years(-3), to: years(3), ca: false });
  return { keys: k, root, ca, pck, tcb, pem: { root: pem(root), ca: pem(ca), pck: pem(pck), tcb: pem(tcb) } };
}

/** A PCS document {"<field>":{…},"signature":"hex r‖s"} signed over the exact bytes of the value. */
async function signed(field, value, key) {
  const body = JSON.stringify(value);
  const sig = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, utf8.encode(body)));
  return `{"${field}":${body},"signature":"${hex(sig)}"}`;
}

export const QE = { mrsigner: 'dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5', isvprodid: 2, isvsvn: 4, attributes: '11000000000000000000000000000000' };

/** A collateral bundle under the test PKI: TCB info with one level of `status`, QE identity, CRLs. */
export async function collateral(pki, { status = 'UpToDate', revoked = [], tcbSvn = 0, tamper = null, moduleId = 'TDX_03' } = {}) {
  const comps = () => Array.from({ length: 16 }, () => ({ svn: tcbSvn }));
  // The TDX module the test bodies carry (TEE_TCB_SVN[1] = 3, MRSIGNERSEAM at body offset 64): TDX 1.5 rules.
  const mrSignerSeam = hex(tdBody(new Uint8Array(64)).subarray(64, 112)).toUpperCase();
  const tcbInfo = { id: 'TDX', version: 3, issueDate: '2026-05-01T00:00:00Z', nextUpdate: '2026-07-01T00:00:00Z', fmspc: FMSPC, pceId: '0000', tcbType: 0, tcbEvaluationDataNumber: 17,
    tdxModule: { mrsigner: mrSignerSeam, attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' },
    tdxModuleIdentities: [{ id: moduleId, mrsigner: mrSignerSeam, attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF',
      tcbLevels: [{ tcb: { isvsvn: 0 }, tcbDate: '2026-01-01T00:00:00Z', tcbStatus: 'UpToDate' }] }],
    tcbLevels: [{ tcb: { sgxtcbcomponents: comps(), pcesvn: tcbSvn, tdxtcbcomponents: comps() }, tcbDate: '2026-01-01T00:00:00Z', tcbStatus: status, ...(status === 'UpToDate' ? {} : { advisoryIDs: ['INTEL-SA-00000'] }) }] };
  const qeIdentity = { id: 'TD_QE', version: 2, issueDate: '2026-05-01T00:00:00Z', nextUpdate: '2026-07-01T00:00:00Z', tcbEvaluationDataNumber: 17, miscselect: '00000000', miscselectMask: 'FFFFFFFF',
    attributes: QE.attributes.toUpperCase(), attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000', mrsigner: QE.mrsigner.toUpperCase(), isvprodid: QE.isvprodid,
    tcbLevels: [{ tcb: { isvsvn: QE.isvsvn }, tcbDate: '2026-01-01T00:00:00Z', tcbStatus: 'UpToDate' }] };
  let tcbText = await signed('tcbInfo', tcbInfo, pki.keys.tcb);
  let qeText = await signed('enclaveIdentity', qeIdentity, pki.keys.tcb);
  if (tamper === 'tcb_info') tcbText = tcbText.replace(`"tcbStatus":"${status}"`, '"tcbStatus":"UpToDate"').replace('"INTEL-SA-00000"', '"none"');
  if (tamper === 'qe_identity') qeText = qeText.replace(`"isvprodid":${QE.isvprodid}`, '"isvprodid":9');
  return {
    tcb_info: tcbText,
    tcb_info_issuer_chain: pki.pem.tcb + pki.pem.root,
    qe_identity: qeText,
    qe_identity_issuer_chain: pki.pem.tcb + pki.pem.root,
    pck_crl: await crl({ issuerCn: 'Intel SGX PCK Platform CA', issuerKey: pki.keys.ca, from: new Date('2026-05-01T00:00:00Z'), to: new Date('2026-07-01T00:00:00Z'), revoked }),
    pck_crl_issuer_chain: pki.pem.ca + pki.pem.root,
    root_crl: await crl({ issuerCn: 'Intel SGX Root CA', issuerKey: pki.keys.root, from: new Date('2026-01-01T00:00:00Z'), to: new Date('2027-01-01T00:00:00Z') }),
  };
}

/** A TD quote body (584 bytes): distinct bytes per field; TEE_TCB_SVN[0..1], SEAMATTRIBUTES (zero), REPORTDATA and TDATTRIBUTES as given. */
export function tdBody(reportData, { tdAttributes = 0x10000000n, teeTcbSvn = 3, seamAttributes = 0n } = {}) {
  const body = new Uint8Array(584);
  for (let i = 0; i < 520; i++) body[i] = (i * 7 + 3) & 0xff;
  body.fill(0, 0, 16);
  body.fill(teeTcbSvn, 0, 2);
  // SEAMATTRIBUTES: zero, as a production TDX module's (the TCB info requires it under its mask)
  new DataView(body.buffer).setBigUint64(112, seamAttributes, true);
  new DataView(body.buffer).setBigUint64(120, tdAttributes, true);
  body.set(reportData, 520);
  return body;
}

/** A TD quote v4 over the body, signed by a fresh attestation key; QE report signed by the PCK. */
export async function tdQuote(pki, body) {
  const header = concat(u16le(4), u16le(2), u32le(0x81), new Uint8Array(40));
  const signedBytes = concat(header, body);
  const jwk = await subtle.exportKey('jwk', pki.keys.qeAk.publicKey);
  const akRaw = concat(Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url'));
  const auth = new Uint8Array(32).fill(0xa5);
  const qeReport = new Uint8Array(384);
  qeReport.set(Buffer.from(QE.attributes, 'hex'), 48);
  qeReport.set(Buffer.from(QE.mrsigner, 'hex'), 128);
  qeReport.set(u16le(QE.isvprodid), 256);
  qeReport.set(u16le(QE.isvsvn), 258);
  qeReport.set(await sha('SHA-256', concat(akRaw, auth)), 320);
  const chain = utf8.encode(pki.pem.pck + pki.pem.ca + pki.pem.root + '\0');
  const qeSig = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pki.keys.pck.privateKey, qeReport));
  const qe = concat(qeReport, qeSig, u16le(auth.length), auth, u16le(5), u32le(chain.length), chain);
  const quoteSig = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pki.keys.qeAk.privateKey, signedBytes));
  const sig = concat(quoteSig, akRaw, u16le(6), u32le(qe.length), qe);
  return { bytes: concat(signedBytes, u32le(sig.length), sig), chainOffset: signedBytes.length + 4 + 128 + 6 + 450 + auth.length + 6, pems: pki.pem };
}

/** The TD report (1024 bytes) the body was quoted from, with consistent REPORTMACSTRUCT hashes. */
export async function tdReport(body) {
  const r = new Uint8Array(1024);
  r[0] = 0x81;
  r.set(body.subarray(0, 16), 264);
  r.set(body.subarray(16, 64), 280);
  r.set(body.subarray(64, 112), 328);
  r.set(body.subarray(112, 120), 376);
  r.set(body.subarray(120, 128), 512);
  r.set(body.subarray(128, 136), 520);
  r.set(body.subarray(136, 520), 528);
  r.set(body.subarray(520, 584), 128);
  r.set(new Uint8Array(8).fill(1), 256); // TEE_TCB_INFO.VALID
  r.set(await sha('SHA-384', r.subarray(256, 495)), 32);
  r.set(await sha('SHA-384', r.subarray(512, 1024)), 80);
  r.fill(0xee, 224, 256); // REPORTMAC (a MAC only the CPU can check)
  return r;
}

/** An Azure HCL report (vTPM NV 0x01400001) around a TD report, runtime data naming the AK and user-data. */
export function hclReport(tdReportBytes, runtimeData) {
  const out = new Uint8Array(1216 + 20 + runtimeData.length);
  out.set(Buffer.from('48434c4102000000860900000200000000000000000000000000000000000000', 'hex'), 0);
  out.set(tdReportBytes, 32);
  out.set(concat(u32le(20 + runtimeData.length), u32le(1), u32le(4), u32le(1), u32le(runtimeData.length)), 1216);
  out.set(runtimeData, 1236);
  return out;
}

/** Runtime data JSON as Azure's HCL writes it: the vTPM AK (HCLAkPub) and user-data. */
export const runtimeData = (akJwk, userData) => utf8.encode(JSON.stringify({
  keys: [{ kid: 'HCLAkPub', key_ops: ['sign'], kty: 'RSA', e: akJwk.e, n: akJwk.n }],
  'vm-configuration': { 'console-enabled': false, 'secure-boot': true, 'tpm-enabled': true, vmUniqueId: '00000000-0000-0000-0000-000000000000' },
  'user-data': hex(userData).toUpperCase(),
}));

/** A complete Azure-TDX report under the test PKI: everything binds; VERIFIED with the test root and collateral. */
export async function azureTdxReport(keys, pki, { nonce = NONCE, tdAttributes, teeTcbSvn, seamAttributes } = {}) {
  const ks = await keySet(keys);
  const rd = runtimeData(keys.akJwk, concat(ks.digest, new Uint8Array(32)));
  const reportData = concat(await sha('SHA-256', rd), new Uint8Array(32));
  const body = tdBody(reportData, { tdAttributes, teeTcbSvn, seamAttributes });
  const quote = await tdQuote(pki, body);
  const hcl = hclReport(await tdReport(body), rd);
  return { report: await report(keys, { nonce, evidence: { hcl_report: b64(hcl), td_quote: b64(quote.bytes) }, claims: { platform: 'azure-tdx', tee_verified: true } }), body, quote };
}

/** An IMDS-shaped attested document: PKCS#7 SignedData over JSON, signed by a certificate named `dns` under a fresh test root. */
export async function imdsDocument({ dns = 'metadata.azure.com', content = '{"nonce":"1","vmId":"00000000-0000-0000-0000-000000000000","sku":"test"}' } = {}) {
  const rootKey = await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: 'SHA-256' }, true, ['sign', 'verify']);
  const leafKey = await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: Uint8Array.of(1, 0, 1), hash: 'SHA-256' }, true, ['sign', 'verify']);
  const san = new pkijs.AltName({ altNames: [new pkijs.GeneralName({ type: 2, value: dns })] });
  const root = await certificate({ cn: 'Test IMDS Root', key: rootKey, issuerCn: 'Test IMDS Root', issuerKey: rootKey, serial: 1, from: years(-5), to: years(5), ca: true });
  const leaf = await certificate({ cn: dns, key: leafKey, issuerCn: 'Test IMDS Root', issuerKey: rootKey, serial: 2, from: years(-1), to: years(1), ca: false,
    extensions: [new pkijs.Extension({ extnID: '2.5.29.17', critical: false, extnValue: san.toSchema().toBER(false), parsedValue: san })] });
  const data = utf8.encode(content);
  const sd = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.7.1', eContent: new asn1js.OctetString({ valueHex: data }) }),
    signerInfos: [new pkijs.SignerInfo({ version: 1, sid: new pkijs.IssuerAndSerialNumber({ issuer: leaf.issuer, serialNumber: leaf.serialNumber }) })],
    certificates: [leaf],
  });
  await sd.sign(leafKey.privateKey, 0, 'SHA-256');
  const info = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: sd.toSchema(true) });
  return { signature: b64(new Uint8Array(info.toSchema().toBER(false))), root: pem(root), content };
}

/** An SEV-SNP chain shaped like AMD's (ARK → ASK → VCEK with the chip's hwID), on P-384, trusted only by tests. */
export async function testSnpPki(chipId) {
  const P384 = { name: 'ECDSA', namedCurve: 'P-384' };
  const k = { ark: await subtle.generateKey(P384, true, ['sign', 'verify']), ask: await subtle.generateKey(P384, true, ['sign', 'verify']), vcek: await subtle.generateKey(P384, true, ['sign', 'verify']) };
  const sign384 = async (cert, key) => { await cert.sign(key.privateKey, 'SHA-384'); return cert; };
  const make = async (o) => {
    const cert = new pkijs.Certificate();
    cert.version = 2;
    cert.serialNumber = new asn1js.Integer({ value: o.serial });
    cert.subject = name(o.cn);
    cert.issuer = name(o.issuerCn);
    cert.notBefore.value = years(-5);
    cert.notAfter.value = years(5);
    cert.extensions = [new pkijs.Extension({ extnID: '2.5.29.19', critical: true, extnValue: new pkijs.BasicConstraints({ cA: o.ca }).toSchema().toBER(false), parsedValue: new pkijs.BasicConstraints({ cA: o.ca }) }), ...(o.extensions ?? [])];
    await cert.subjectPublicKeyInfo.importKey(o.key.publicKey);
    return sign384(cert, o.issuerKey);
  };
  const ark = await make({ cn: 'ARK-Test', key: k.ark, issuerCn: 'ARK-Test', issuerKey: k.ark, serial: 1, ca: true });
  const ask = await make({ cn: 'SEV-Test', key: k.ask, issuerCn: 'ARK-Test', issuerKey: k.ark, serial: 2, ca: true });
  const hwid = new pkijs.Extension({ extnID: '1.3.6.1.4.1.3704.1.4', critical: false, extnValue: new asn1js.OctetString({ valueHex: chipId }).toBER(false) });
  const vcek = await make({ cn: 'SEV-VCEK', key: k.vcek, issuerCn: 'SEV-Test', issuerKey: k.ask, serial: 3, ca: false, extensions: [hwid] });
  return { keys: k, pem: { ark: pem(ark), ask: pem(ask), vcek: pem(vcek) } };
}

/** An SNP-typed HCL report signed by the test VCEK: REPORT_DATA[0:32] = SHA-256(runtime data). */
export async function snpHclReport(snpPki, chipId, rd) {
  const report = new Uint8Array(1184);
  report.set(u32le(2), 0);
  report.set(u32le(1), 52);
  report.set(await sha('SHA-256', rd), 0x50);
  report.set(chipId, 0x1a0);
  const sig = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, snpPki.keys.vcek.privateKey, report.subarray(0, 0x2a0)));
  report.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), 0x2a0);
  report.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), 0x2a0 + 72);
  const out = new Uint8Array(1216 + 20 + rd.length);
  out.set(Buffer.from('48434c4102000000860900000200000000000000000000000000000000000000', 'hex'), 0);
  out.set(report, 32);
  out.set(concat(u32le(20 + rd.length), u32le(1), u32le(2), u32le(1), u32le(rd.length)), 1216);
  out.set(rd, 1236);
  return out;
}
