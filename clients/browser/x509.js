// X.509 and CRLs on pkijs/asn1js with WebCrypto: certificate chains to a pinned root at a given
// time, CRL signature/currency/revocation, and Intel's SGX extensions. Nothing here throws:
// every function returns a verdict with a reason.

import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { fromBase64, equal } from './bytes.js';

let engineSet = false;
function engine() {
  if (!engineSet) {
    pkijs.setEngine('tee-verify', new pkijs.CryptoEngine({ name: 'tee-verify', crypto: globalThis.crypto }));
    engineSet = true;
  }
}

const SGX_EXTENSIONS = '1.2.840.113741.1.13.1';
const TCB_OID = `${SGX_EXTENSIONS}.2`;
const FMSPC_OID = `${SGX_EXTENSIONS}.4`;
const BASIC_CONSTRAINTS = '2.5.29.19';

const bufferOf = (bytes) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);

/** A DER certificate, or null. */
export function parseCertificate(der) {
  try {
    engine();
    const asn1 = asn1js.fromBER(bufferOf(der));
    if (asn1.offset !== der.length) return null; // not BER, or bytes after the certificate
    if (!equal(new Uint8Array(asn1.result.toBER(false)), der)) return null; // DER only: one certificate, one encoding
    const cert = new pkijs.Certificate({ schema: asn1.result });
    return { cert, der: new Uint8Array(der) };
  } catch {
    return null;
  }
}

/**
 * Every CERTIFICATE block of a PEM text, found as .NET's PemEncoding finds them: a BEGIN line, the
 * next END line of the same label, and only base64 and whitespace between (otherwise the search
 * goes on after that BEGIN). Null if a block found does not hold exactly one DER certificate.
 */
export function parsePemCertificates(pem) {
  if (typeof pem !== 'string') return null;
  const BEGIN = '-----BEGIN CERTIFICATE-----';
  const END = '-----END CERTIFICATE-----';
  const out = [];
  let from = 0;
  for (;;) {
    const begin = pem.indexOf(BEGIN, from);
    if (begin < 0) return out;
    const end = pem.indexOf(END, begin + BEGIN.length);
    if (end < 0) return out;
    const body = pem.slice(begin + BEGIN.length, end);
    if (!/^[A-Za-z0-9+/=\s]*$/.test(body)) { from = begin + 1; continue; }
    const der = fromBase64(body.replace(/\s/g, ''));
    if (!der) { from = begin + 1; continue; }
    const parsed = parseCertificate(der);
    if (!parsed) return null;
    out.push(parsed);
    from = end + END.length;
  }
}

/** A DER CRL, or null. */
export function parseCrl(der) {
  try {
    engine();
    const asn1 = asn1js.fromBER(bufferOf(der));
    if (asn1.offset !== der.length) return null;
    return new pkijs.CertificateRevocationList({ schema: asn1.result });
  } catch {
    return null;
  }
}

const nameDer = (name) => new Uint8Array(name.toSchema().toBER(false));
export const sameName = (a, b) => equal(nameDer(a), nameDer(b));
export const commonName = (c) => c.cert.subject.typesAndValues.find((t) => t.type === '2.5.4.3')?.value?.valueBlock?.value ?? '(no CN)';

function validAt(c, at) {
  const from = c.cert.notBefore.value;
  const to = c.cert.notAfter.value;
  return from <= at && at <= to;
}

function isCa(c) {
  const ext = c.cert.extensions?.find((e) => e.extnID === BASIC_CONSTRAINTS);
  return !!ext?.parsedValue?.cA;
}

async function signedBy(c, issuer) {
  try {
    return await c.cert.verify(issuer.cert);
  } catch {
    return false;
  }
}

/**
 * Whether `leaf` chains through `intermediates` to exactly `root` (the caller's pinned copy),
 * every certificate valid at `at`, every issuer a CA. A root copy among the intermediates is never used.
 * @returns {Promise<{ok: boolean, why: string, path: object[]}>}
 */
export async function chainsTo(leaf, intermediates, root, at) {
  try {
    const path = [leaf];
    let current = leaf;
    for (let depth = 0; depth < 6; depth++) {
      if (!validAt(current, at)) return { ok: false, why: `${commonName(current)} is not valid at ${at.toISOString()}`, path };
      if (sameName(current.cert.issuer, root.cert.subject) && await signedBy(current, root)) {
        if (!validAt(root, at)) return { ok: false, why: `the root is not valid at ${at.toISOString()}`, path };
        if (!isCa(root)) return { ok: false, why: 'the root is not a CA', path };
        path.push(root);
        return { ok: true, why: '', path };
      }
      let next = null;
      for (const c of intermediates) {
        if (c === current || equal(c.der, root.der) || path.includes(c)) continue;
        if (sameName(current.cert.issuer, c.cert.subject) && await signedBy(current, c)) { next = c; break; }
      }
      if (!next) return { ok: false, why: `no issuer of ${commonName(current)} leads to the trusted root`, path };
      if (!isCa(next)) return { ok: false, why: `${commonName(next)} is not a CA`, path };
      path.push(next);
      current = next;
    }
    return { ok: false, why: 'the chain is too long', path };
  } catch (e) {
    return { ok: false, why: `malformed certificate (${e?.message ?? e})`, path: [] };
  }
}

/**
 * A CRL signed by `issuer`, current at `at` (thisUpdate ≤ at ≤ nextUpdate), that does not list `cert`.
 * @returns {Promise<{ok: boolean, why: string}>}
 */
export async function notRevoked(crl, issuer, cert, at) {
  try {
    if (!crl) return { ok: false, why: 'the CRL does not parse' };
    if (!sameName(crl.issuer, issuer.cert.subject)) return { ok: false, why: `the CRL is issued by another CA than ${commonName(issuer)}` };
    if (!(await crl.verify({ issuerCertificate: issuer.cert }))) return { ok: false, why: `the CRL's signature does not verify with ${commonName(issuer)}` };
    const thisUpdate = crl.thisUpdate?.value;
    const nextUpdate = crl.nextUpdate?.value;
    if (!thisUpdate || !nextUpdate || !(thisUpdate <= at && at <= nextUpdate)) return { ok: false, why: `the CRL of ${commonName(issuer)} is not current at ${at.toISOString()}` };
    if (crl.isCertificateRevoked(cert.cert)) return { ok: false, why: `${commonName(cert)} is revoked` };
    return { ok: true, why: '' };
  } catch (e) {
    return { ok: false, why: `malformed CRL (${e?.message ?? e})` };
  }
}

/** The raw public key (uncompressed point or SPKI) of a certificate as a CryptoKey for ECDSA/RSA verify, or null. */
export async function publicKeyOf(c, algorithm) {
  try {
    const spki = new Uint8Array(c.cert.subjectPublicKeyInfo.toSchema().toBER(false));
    return await globalThis.crypto.subtle.importKey('spki', spki, algorithm, false, ['verify']);
  } catch {
    return null;
  }
}

/** The raw value of an extension (its OCTET STRING content), or null. */
export function extensionValue(c, oid) {
  const ext = c.cert.extensions?.find((e) => e.extnID === oid);
  return ext ? new Uint8Array(ext.extnValue.valueBlock.valueHexView) : null;
}

/**
 * The PCK certificate's SGX extensions: FMSPC, the 16 CPUSVN components and PCESVN; or null.
 */
export function readPckExtensions(pck) {
  try {
    const raw = extensionValue(pck, SGX_EXTENSIONS);
    if (!raw) return null;
    const parsed = asn1js.fromBER(bufferOf(raw));
    if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence)) return null;
    let fmspc = null;
    const components = new Array(16).fill(0);
    let pceSvn = -1;
    for (const entry of parsed.result.valueBlock.value) {
      const [oid, value] = entry.valueBlock?.value ?? [];
      if (!(oid instanceof asn1js.ObjectIdentifier)) return null;
      const id = oid.valueBlock.toString();
      if (id === FMSPC_OID) {
        if (!(value instanceof asn1js.OctetString)) return null;
        fmspc = new Uint8Array(value.valueBlock.valueHexView);
      } else if (id === TCB_OID) {
        if (!(value instanceof asn1js.Sequence)) return null;
        for (const item of value.valueBlock.value) {
          const [itemOid, itemValue] = item.valueBlock?.value ?? [];
          if (!(itemOid instanceof asn1js.ObjectIdentifier)) return null;
          const itemId = itemOid.valueBlock.toString();
          if (!itemId.startsWith(`${TCB_OID}.`)) continue;
          const index = Number(itemId.slice(TCB_OID.length + 1));
          if (!(itemValue instanceof asn1js.Integer)) { if (index >= 1 && index <= 17) return null; continue; }
          if (index >= 1 && index <= 16) components[index - 1] = itemValue.valueBlock.valueDec;
          else if (index === 17) pceSvn = itemValue.valueBlock.valueDec;
        }
      }
    }
    if (!fmspc || pceSvn < 0) return null;
    return { fmspc, components, pceSvn };
  } catch {
    return null;
  }
}

/** The DNS name .NET's GetNameInfo(DnsName) gives: the first SAN dNSName, else the CN. */
export function dnsName(c) {
  const san = c.cert.extensions?.find((e) => e.extnID === '2.5.29.17')?.parsedValue;
  const dns = san?.altNames?.find((n) => n.type === 2)?.value;
  return typeof dns === 'string' ? dns : commonName(c);
}

/**
 * A PKCS#7 SignedData (DER): its one signer's signature over the encapsulated content, the
 * signer certificate, the certificates it carries and the content; throws Error(reason).
 */
export async function verifySignedData(der) {
  engine();
  const asn1 = asn1js.fromBER(bufferOf(der));
  if (asn1.offset !== der.length) throw new Error('not DER');
  const info = new pkijs.ContentInfo({ schema: asn1.result });
  if (info.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new Error('not SignedData');
  const sd = new pkijs.SignedData({ schema: info.content });
  const content = sd.encapContentInfo?.eContent ? new Uint8Array(sd.encapContentInfo.eContent.getValue()) : null;
  const certificates = (sd.certificates ?? []).filter((c) => c instanceof pkijs.Certificate).map((cert) => ({ cert, der: new Uint8Array(cert.toSchema().toBER(false)) }));
  const signers = sd.signerInfos.length;
  let verified = false;
  let signer = null;
  if (signers === 1) {
    const result = await sd.verify({ signer: 0, checkChain: false, extendedMode: true });
    verified = !!result.signatureVerified;
    signer = result.signerCertificate ? certificates.find((c) => c.cert === result.signerCertificate) ?? { cert: result.signerCertificate, der: new Uint8Array(result.signerCertificate.toSchema().toBER(false)) } : null;
  }
  return { signers, verified, signer, certificates, content };
}
