#!/usr/bin/env python3
"""Writes the software-made reports of the corpus (forgeries and the software-TPM report).

Everything here is made in software on purpose: an RSA key posing as the vTPM AK, a P-256
answer-signing key, an X25519 sealing key, TPMS_ATTEST quotes signed by that "AK", and HCL
reports copied from the public Azure samples with their runtime data rewritten. A verifier must
refuse each of them without --allow-insecure-platform. Deterministic only in structure (keys
are fresh each run); the committed files are the corpus, rerun only to change it.
Needs python3-cryptography. Run: python3 tests/vectors/make-vectors.py
"""
import base64, copy, hashlib, json, os, struct
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "..", "..", "..", "shared", "testdata")
NONCE = bytes(range(0x50, 0x70))  # 32 bytes, as tee-verify sends
b64 = lambda b: base64.b64encode(b).decode()
spki = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

ak = rsa.generate_private_key(65537, 2048)
signing = ec.generate_private_key(ec.SECP256R1())
sealing = x25519.X25519PrivateKey.generate()
sealing_raw = sealing.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_set(keys):
    """PROTOCOL.md "Key set": canonical bytes, digest, and the report's JSON."""
    lines = sorted({f"{p} {a} {b64(k)}\n" for p, a, k in keys})
    digest = hashlib.sha256(("tee-aspire/key-set/v1\n" + "".join(lines)).encode()).digest()
    entries = [{"purpose": p, "alg": a, "public_key": b64(k), "fingerprint": hashlib.sha256(k).hexdigest(), "service": s}
               for (p, a, k), s in zip(keys, ["inference-worker", "gateway"])]
    return digest, {"version": 1, "keys": entries, "digest": digest.hex()}


KEYS = [("answer-signing", "ES256", spki(signing.public_key())), ("body-sealing", "HPKE-X25519-SHA256-AES256GCM", sealing_raw)]
DIGEST, KEY_SET = key_set(KEYS)
PCRS = {i: (b"\x00" * 32 if i < 17 or i == 23 else b"\xff" * 32) for i in range(24)}


def attest(extra, selected):
    """TPMS_ATTEST (TPM 2.0 Part 2, 10.12.12) of a quote over the sha256 bank."""
    bitmap = bytearray(3)
    for i in selected:
        bitmap[i // 8] |= 1 << (i % 8)
    digest = hashlib.sha256(b"".join(PCRS[i] for i in sorted(selected))).digest()
    name = b"\x00\x0b" + hashlib.sha256(b"software ak").digest()
    return (struct.pack(">IH", 0xFF544347, 0x8018) + struct.pack(">H", len(name)) + name
            + struct.pack(">H", len(extra)) + extra
            + struct.pack(">QIIBQ", 123456, 1, 0, 1, 0x2023_0000_0000)
            + struct.pack(">IHB", 1, 0x000B, 3) + bytes(bitmap)
            + struct.pack(">H", len(digest)) + digest)


def report(extra=None, selected=range(24), pcrs=None, keyset=KEY_SET, **claims):
    extra = extra if extra is not None else hashlib.sha256(NONCE + DIGEST).digest()
    message = attest(extra, list(selected))
    signature = ak.sign(message, padding.PKCS1v15(), hashes.SHA256())
    values = pcrs if pcrs is not None else {str(i): PCRS[i].hex() for i in selected}
    r = {"platform": "none", "tee_verified": False, "nonce": NONCE.hex(), "replayable": False, "key_set": keyset,
         "evidence": {"tpm_quote": {"message": b64(message), "signature": b64(signature), "signature_alg": "rsassa-pkcs1v15-sha256",
                                    "ak_public": b64(spki(ak.public_key())), "ak_handle": "0x81000003", "extra_data": extra.hex(),
                                    "pcrs": {"sha256": values}}}}
    r.update(claims)
    return r


def azure_claims(platform):
    return {"platform": platform, "tee_verified": True, "vm_size": "Standard_DC4es_v5",
            "tpm_pcr_sha256": {str(i): PCRS[i].hex() for i in range(24)},
            "software": {"service": "TeeAspire.Attestation.Api", "version": "1.0.0"}}


def forged_hcl(sample):
    """An Azure HCL report with its runtime data rewritten to hold our AK and user-data, and REPORTDATA re-hashed."""
    data = bytearray(open(os.path.join(TESTDATA, "azure-cvm", sample), "rb").read())
    size = struct.unpack_from("<I", data, 1232)[0]
    runtime = json.loads(data[1236:1236 + size])
    n = ak.public_key().public_numbers()
    u = lambda i: base64.urlsafe_b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
    runtime["keys"] = [{"kid": "HCLAkPub", "key_ops": ["sign"], "kty": "RSA", "e": u(n.e), "n": u(n.n)}]
    runtime["user-data"] = (DIGEST + bytes(32)).hex().upper()
    blob = json.dumps(runtime, separators=(",", ":")).encode()
    report_type = struct.unpack_from("<I", data, 1224)[0]
    report_data_at = 32 + (0x50 if report_type == 2 else 128)
    data[report_data_at:report_data_at + 32] = hashlib.sha256(blob).digest()
    struct.pack_into("<I", data, 1232, len(blob))
    return bytes(data[:1236]) + blob


def write(path, obj, text=None):
    with open(os.path.join(HERE, path), "w") as f:
        f.write(text if text is not None else json.dumps(obj, indent=1) + "\n")


def vector(name, description, report_path, verdict, failed=None, policy=None, insecure=False, trust=None, nonce=NONCE):
    v = {"description": description, "report": report_path, "nonce": nonce.hex()}
    if policy: v["policy"] = policy
    v["options"] = {"allow_insecure_platform": insecure}
    if trust: v["trust"] = trust
    v["expect"] = {"verdict": verdict} | ({"failed_check": failed} if failed else {})
    write(name + ".vector.json", v)


# The software TPM report: what the local stack serves off TEE hardware.
write("reports/software-tpm.json", report())
vector("software-tpm-insecure-allowed", "a software-TPM report (no hardware root) with a good key set and quote: VERIFIED only because the caller allows an insecure platform",
       "reports/software-tpm.json", "VERIFIED", insecure=True)
vector("software-tpm-refused", "the same software-TPM report without --allow-insecure-platform: no hardware evidence",
       "reports/software-tpm.json", "REFUSED", "platform")

# Forgeries.
write("reports/forged-software-azure-tdx.json", report(**azure_claims("azure-tdx")))
vector("forged-software-relabelled-azure-tdx", "software-only report relabelled azure-tdx with tee_verified, vm_size, tpm_pcr_sha256 and software claims: JSON claims prove nothing",
       "reports/forged-software-azure-tdx.json", "REFUSED", "platform")
vector("forged-software-relabelled-azure-tdx-with-policy", "the relabelled report against a policy requiring azure-tdx",
       "reports/forged-software-azure-tdx.json", "REFUSED", "policy.platform", policy="policies/azure-tdx-platform.policy.json")
write("policies/azure-tdx-platform.policy.json", {"platform": "azure-tdx"})

r = report(**azure_claims("azure-tdx")); r["evidence"]["hcl_report"] = "x"
write("reports/forged-hcl-report-x.json", r)
vector("forged-hcl-report-x", "\"hcl_report\": \"x\" on a software report relabelled azure-tdx", "reports/forged-hcl-report-x.json", "REFUSED", "hcl_report.format", insecure=True)

r = report(**azure_claims("azure-snp")); r["evidence"]["hcl_report"] = b64(forged_hcl("hcl-report-snp.bin"))
write("reports/forged-snp-hcl-software.json", r)
vector("forged-snp-hcl-without-vcek", "the issue's forgery: software AK and keys, the public SNP HCL sample with runtime data and REPORT_DATA rewritten; no VCEK chain",
       "reports/forged-snp-hcl-software.json", "REFUSED", "snp.vcek_chain", trust={"amd_ark": "trust/amd-ark-milan.pem"})
r = copy.deepcopy(r); r["evidence"]["snp_vcek_chain"] = open(os.path.join(TESTDATA, "azure-cvm", "certs.pem")).read()
write("reports/forged-snp-hcl-software-with-chain.json", r)
vector("forged-snp-hcl-with-other-chips-vcek", "the same forgery carrying a genuine Milan VCEK → ASK → ARK chain of another chip: the SNP report's signature does not verify",
       "reports/forged-snp-hcl-software-with-chain.json", "REFUSED", "snp.report_signature", trust={"amd_ark": "trust/amd-ark-milan.pem"})

r = report(**azure_claims("azure-tdx")); r["evidence"]["hcl_report"] = b64(forged_hcl("hcl-report-tdx.bin"))
write("reports/forged-tdx-hcl-without-td-quote.json", r)
vector("forged-tdx-hcl-without-td-quote", "the real Azure TDX HCL sample with runtime data rewritten (REPORTDATA re-hashed) and no TD quote: nothing proves the TD report",
       "reports/forged-tdx-hcl-without-td-quote.json", "REFUSED", "td_quote")

r = report(); r["evidence"]["td_quote"] = b64(open(os.path.join(TESTDATA, "intel-tdx", "tdx_prod_quote_SPR_E4.dat"), "rb").read())
write("reports/td-quote-without-hcl.json", r)
vector("td-quote-without-hcl", "a real TD quote beside a software TPM quote, no HCL report: nothing ties the TPM's key to the TD",
       "reports/td-quote-without-hcl.json", "REFUSED", "hcl_report", insecure=True)

subset = {"0": PCRS[0].hex(), "7": "ab" * 32}
write("reports/pcr-subset-claimed.json", report(selected=[0], pcrs=subset))
vector("pcr-subset-claimed", "a quote over PCR 0 alone with JSON claiming PCR 7 too", "reports/pcr-subset-claimed.json", "REFUSED", "tpm_quote.pcr_values",
       policy="policies/pcr7.policy.json", insecure=True)
write("reports/pcr-subset.json", report(selected=[0]))
vector("pcr-policy-outside-selection", "a quote over PCR 0 alone against a policy on PCR 7", "reports/pcr-subset.json", "REFUSED", "policy.pcr7",
       policy="policies/pcr7.policy.json", insecure=True)
write("policies/pcr7.policy.json", {"pcrs": {"7": "ab" * 32}})

text = json.dumps(report(), indent=1).replace('"7": "' + PCRS[7].hex() + '"', '"7": "' + PCRS[7].hex() + '",\n     "7": "' + "ab" * 32 + '"')
write("reports/pcr-duplicate-keys.json", None, text)
vector("pcr-duplicate-keys", "PCR key \"7\" twice (JSON parsers disagree on which wins)", "reports/pcr-duplicate-keys.json", "REFUSED", "report.format", insecure=True)
r = report(); r["evidence"]["tpm_quote"]["pcrs"]["sha256"]["07"] = "ab" * 32
write("reports/pcr-noncanonical-key.json", r)
vector("pcr-noncanonical-key", "PCR keys \"7\" and \"07\" side by side", "reports/pcr-noncanonical-key.json", "REFUSED", "tpm_quote.pcr_values", insecure=True)
for bad in ["+7", " 7", "7.0", "24", "99999999999999999999"]:
    r = report(); r["evidence"]["tpm_quote"]["pcrs"]["sha256"][bad] = "ab" * 32
    name = "pcr-key-" + {"+7": "plus", " 7": "space", "7.0": "decimal", "24": "out-of-range", "99999999999999999999": "huge"}[bad]
    write(f"reports/{name}.json", r)
    vector(name, f"a PCR key {json.dumps(bad)} beside the canonical ones", f"reports/{name}.json", "REFUSED", "tpm_quote.pcr_values", insecure=True)

vector("policy-enables-insecure", "a policy file that tries to switch insecure mode on: the policy fails to load", "reports/software-tpm.json", "REFUSED", "policy.format",
       policy="policies/enables-insecure.policy.json")
write("policies/enables-insecure.policy.json", {"allow_insecure_platform": True, "pcrs": {}})
vector("policy-noncanonical-pcr-key", "a policy with PCR key \"07\"", "reports/software-tpm.json", "REFUSED", "policy.format",
       policy="policies/noncanonical-pcr.policy.json", insecure=True)
write("policies/noncanonical-pcr.policy.json", {"pcrs": {"07": PCRS[7].hex()}})
vector("policy-pcrs-match", "a policy on quoted PCRs 0 and 17 that match", "reports/software-tpm.json", "VERIFIED", policy="policies/pcrs-match.policy.json", insecure=True)
write("policies/pcrs-match.policy.json", {"pcrs": {"0": PCRS[0].hex(), "17": PCRS[17].hex()}})
vector("policy-td-without-td-quote", "a policy pinning MRTD against evidence with no TD quote", "reports/software-tpm.json", "REFUSED", "policy.mrtd",
       policy="policies/mrtd-only.policy.json", insecure=True)
write("policies/mrtd-only.policy.json", {"td": {"mrtd": ["00" * 48]}})

other_digest, _ = key_set([("answer-signing", "ES256", spki(ec.generate_private_key(ec.SECP256R1()).public_key()))])
write("reports/key-set-not-in-extra-data.json", report(extra=hashlib.sha256(NONCE + other_digest).digest()))
vector("key-set-not-in-extra-data", "the quote's extraData binds another key set than the one the report lists", "reports/key-set-not-in-extra-data.json", "REFUSED",
       "tpm_quote.extra_data", insecure=True)
vector("another-nonce", "a good report checked for another nonce than it answers", "reports/software-tpm.json", "REFUSED", "nonce", insecure=True,
       nonce=bytes(32))
r = report(); del r["key_set"]
write("reports/no-key-set.json", r)
vector("no-key-set", "a report without a key set", "reports/no-key-set.json", "REFUSED", "key_set", insecure=True)

# The real Azure evidence, as far as it goes: quote.bin/akpub.pem and hcl-report-tdx.bin come from different VMs.
raw = open(os.path.join(TESTDATA, "azure-cvm", "quote.bin"), "rb").read()
parts, at = [], 0
for unit in (1, 1, 32):
    n = struct.unpack_from("<Q", raw, at)[0] * unit
    parts.append(raw[at + 8:at + 8 + n]); at += 8 + n
sig, msg, pcrs = parts
real_ak = serialization.load_pem_public_key(open(os.path.join(TESTDATA, "azure-cvm", "akpub.pem"), "rb").read())
challenge = b"challenge" + bytes(7)  # the sample's nonce is 9 bytes; verifiers take 16-64, so the nonce check fails too
r = {"platform": "azure-tdx", "nonce": challenge.hex(), "key_set": KEY_SET,
     "evidence": {"tpm_quote": {"message": b64(msg), "signature": b64(sig), "ak_public": b64(spki(real_ak)),
                                "pcrs": {"sha256": {str(i): pcrs[i * 32:(i + 1) * 32].hex() for i in range(24)}}},
                  "hcl_report": b64(open(os.path.join(TESTDATA, "azure-cvm", "hcl-report-tdx.bin"), "rb").read())}}
write("reports/real-azure-tdx-different-vms.json", r)
vector("real-azure-tdx-different-vms", "real Azure bytes: a vTPM quote (signature and PCR digest verify) and a TDX HCL report (runtime data bound) from different VMs, no TD quote: the quote's AK is not the report's HCLAkPub",
       "reports/real-azure-tdx-different-vms.json", "REFUSED", "hcl_report.ak", nonce=challenge)
