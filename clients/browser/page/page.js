// The verification page: a service URL (and optionally a policy, trust anchors, collateral) → a
// fresh random nonce → the report → every check of the browser module → the verdict, the chain row
// by row, a sealed test chat, and the evidence to keep. Everything the service sends is rendered as
// text (textContent), never as markup. The only requests: the service (report, sealing key, chat,
// signature) — nothing else is fetched; test/page.test.mjs and e2e/verify-page-chromium.mjs record them.

import { verifyReport, createSealedClient, AttestationError, loadPolicy, PolicyFormatError } from '../dist/tee-verify.bundle.js';
import { INTEL_SGX_ROOT_PEM, INTEL_SGX_ROOT_SHA256 } from './intel-root.js';
import { makeEvidence, readEvidence, reverifyEvidence, verdictOf, pemSha256, EvidenceError } from './evidence.js';
import { chainRows, plainWords, reportedModels, claims, STATUS_TEXT } from './chain.js';
import { isReleaseManifest, policyFromRelease, ReleaseError } from './release.js';

const $ = (id) => document.getElementById(id);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

const inputs = { policy: null, intelRoot: null, collateral: null, amdArk: null, imdsRoot: null };
// The policy is read (and a release manifest made into one) asynchronously: verify waits for it.
let inputsReady = Promise.resolve();
const track = (p) => { inputsReady = inputsReady.then(() => p); };
let last = null; // the last verification: what the evidence file holds

async function readFile(input) {
  const file = input.files?.[0];
  if (!file) return null;
  if (file.size > 64 * 1024 * 1024) throw new Error(`${file.name} is larger than 64 MiB`);
  return { name: file.name, text: await file.text() };
}

function setBusy(id, text) { $(id).textContent = text; }

/** The service's origin, or an error why not (not http(s), or the origin this page came from). */
function serviceUrl() {
  const raw = $('service').value.trim();
  let url;
  try { url = new URL(raw); } catch { throw new Error('enter the service\'s URL, e.g. https://tee.example.com'); }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('the service URL must be http(s)');
  if ((location.protocol === 'http:' || location.protocol === 'https:') && url.origin === location.origin)
    throw new SameOriginError(`this page was served by ${url.origin}, the service it would verify. A service cannot vouch for itself: `
      + 'a page it serves could be changed to say VERIFIED whatever runs. Open this page from a release artifact, a static host you trust, or a local file.');
  return url.origin;
}

class SameOriginError extends Error {}

function options() {
  return {
    allowInsecurePlatform: $('allow-insecure').checked,
    intelRoot: inputs.intelRoot?.text ?? INTEL_SGX_ROOT_PEM,
    ...(inputs.amdArk ? { amdArk: inputs.amdArk.text } : {}),
    ...(inputs.imdsRoot ? { imdsRoots: [inputs.imdsRoot.text] } : {}),
  };
}

async function trust() {
  return {
    intel_root_sha256: inputs.intelRoot ? await pemSha256(inputs.intelRoot.text) : INTEL_SGX_ROOT_SHA256,
    amd_ark_sha256: inputs.amdArk ? await pemSha256(inputs.amdArk.text) : null,
  };
}

async function verifyService() {
  $('download').disabled = true;
  await inputsReady;
  let service;
  try {
    service = serviceUrl();
  } catch (e) {
    showNoVerdict(e instanceof SameOriginError ? 'NOT VERIFIED — wrong origin' : 'NOT VERIFIED', e.message);
    return;
  }
  setBusy('busy', 'Fetching a fresh report…');
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(32));
  let text;
  try {
    const response = await fetch(`${service}/attestation?nonce=${hex(nonce)}`, { cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    if (!response.ok) throw new Error(`the service answered HTTP ${response.status}`);
    text = await response.text();
  } catch (e) {
    setBusy('busy', '');
    showNoVerdict('NOT VERIFIED — no report', `Could not fetch a report from ${service}: ${e.message}. `
      + `The service must allow this page's origin (${location.origin === 'null' || location.protocol === 'file:' ? '"null" for a local file' : location.origin}) in Gateway:CorsOrigins.`);
    return;
  }
  setBusy('busy', 'Checking…');
  const verifiedAt = new Date();
  const opts = options();
  const result = await verifyReport(text, nonce, { ...opts, now: verifiedAt, ...(inputs.policy ? { policy: inputs.policy.text } : {}), ...(inputs.collateral ? { collateral: inputs.collateral.text } : {}) });
  setBusy('busy', '');
  last = { service, nonce, report: text, policy: inputs.policy?.text ?? null, collateral: inputs.collateral?.text ?? null, verifiedAt, allowInsecurePlatform: opts.allowInsecurePlatform, trust: await trust(), result };
  show(result, text, { where: `${service}, nonce ${hex(nonce).slice(0, 16)}…, ${verifiedAt.toISOString()}` });
  $('download').disabled = false;
  $('chat-section').hidden = false;
  $('evidence-status').textContent = '';
}

function parsedReport(text) {
  try { return JSON.parse(text); } catch { return null; }
}

function showNoVerdict(title, why) {
  $('result').hidden = false;
  $('verdict-box').className = 'verdict none';
  $('verdict').textContent = title;
  $('verdict-why').textContent = why;
  $('verdict-meta').textContent = '';
  $('chain').replaceChildren();
  $('claims').replaceChildren();
  $('verdict-box').focus();
}

function show(result, reportText, { where, recorded }) {
  const report = parsedReport(reportText);
  const { result: word, failed } = verdictOf(result);
  $('result').hidden = false;
  $('verdict-box').className = `verdict ${word.toLowerCase()}`;
  $('verdict').textContent = word;
  if (word === 'VERIFIED') {
    $('verdict-why').textContent = `Every check passed: ${result.platform}, the chain below holds from the chip to the service's keys.`;
  } else if (word === 'INSECURE') {
    $('verdict-why').textContent = 'Every check passed, but no hardware vouches for this report: a software TPM made it. '
      + 'Accepted only because you allowed an insecure platform. Nothing here proves a TEE.';
  } else {
    const first = result.checks.find((c) => !c.passed);
    $('verdict-why').replaceChildren(`${plainWords(first.name)} `, el('span', { class: 'check-name' }, `(first failed check: `, el('code', {}, first.name), ` — ${first.reason})`));
  }
  $('verdict-meta').textContent = `${where}. ${result.checks.length} checks, ${failed.length} failed.${recorded ?? ''}`;
  renderChain(result, report);
  renderClaims(report);
  $('verdict-box').focus();
}

function renderChain(result, report) {
  const rows = chainRows(result, report);
  $('chain').replaceChildren(...rows.map(({ row, status, checks }) => {
    const failedHere = checks.filter((c) => !c.passed);
    const li = el('li', { id: `row-${row.id}`, 'data-status': status },
      el('div', { class: 'row-head' }, el('h3', {}, row.title), el('span', { class: `status ${status}` }, STATUS_TEXT[status])),
      failedHere.length ? el('p', { class: 'row-failed' }, `${plainWords(failedHere[0].name)} (${failedHere.map((c) => c.name).join(', ')})`) : null,
      status === 'not-checked' || status === 'not-reported' ? el('p', { class: 'row-text' }, row.none) : null,
      el('p', { class: 'row-text' }, el('b', {}, 'What it proves: '), row.proves),
      el('p', { class: 'row-text' }, el('b', {}, 'What it does not: '), row.not),
      details(row.id, result, report, checks));
    return li;
  }));
}

function details(id, result, report, checks) {
  const values = el('dl', { class: 'values' });
  const add = (k, v) => values.append(el('dt', {}, k), el('dd', {}, v));
  if (id === 'hardware') {
    add('platform proven', result.insecure ? 'none (software TPM, accepted as INSECURE)' : result.platform);
    if (result.tcb) add('TCB status (from Intel\'s signed TCB info)', `${result.tcb.status}${result.tcb.advisories?.length ? ` — advisories ${result.tcb.advisories.join(', ')}` : ''}`);
    add('Intel root used', inputs.intelRoot ? `your file ${inputs.intelRoot.name}` : `Intel SGX Root CA, built into this page (SHA-256 ${INTEL_SGX_ROOT_SHA256.slice(0, 16)}…)`);
  }
  if (id === 'td' && result.td) for (const f of ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrseam', 'td_attributes', 'xfam']) add(`${f} (from the verified TD quote)`, result.td.field(f));
  if (id === 'keys' && result.keySet) for (const k of result.keySet.keys) add(`${k.purpose} (${k.alg})`, `fingerprint ${k.fingerprint}`);
  if (id === 'release' && result.quotedPcrs?.size) for (const [i, v] of result.quotedPcrs) add(`PCR ${i} (quoted by the TPM)`, hex(v));
  if (id === 'models') for (const m of reportedModels(report)) add(`${m.name} (reported by the service)`, m.digest ?? 'no digest reported');
  const list = el('ul', { class: 'checks' }, ...checks.map((c) => el('li', {}, el('span', { class: c.passed ? 'ok' : 'no' }, c.passed ? 'PASS ' : 'FAIL '), el('code', {}, c.name), ` — ${c.reason}`)));
  if (!values.childElementCount && !checks.length) return null;
  return el('details', { class: 'row-details' }, el('summary', {}, checks.length ? `Details (${checks.length} check${checks.length === 1 ? '' : 's'})` : 'Details (values)'), values.childElementCount ? values : null, checks.length ? list : null);
}

function renderClaims(report) {
  const list = claims(report);
  $('claims').replaceChildren(...(list.length ? list.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, `${v} — said, not proven`)]) : [el('dt', {}, '—'), el('dd', {}, 'nothing')]));
}

async function chat() {
  const out = $('chat-result');
  out.hidden = false;
  $('chat-answer').textContent = '';
  $('chat-checks').replaceChildren();
  let service;
  try { service = serviceUrl(); } catch (e) { chatVerdict('refused', e.message); return; }
  await inputsReady;
  const apiKey = $('api-key').value.trim();
  if (!apiKey) { chatVerdict('refused', 'Enter an API key.'); return; }
  setBusy('chat-busy', 'Verifying again, then sending sealed…');
  try {
    const client = await createSealedClient(service, {
      apiKey, ...options(), ...(inputs.policy ? { policy: inputs.policy.text } : {}), ...(inputs.collateral ? { collateral: inputs.collateral.text } : {}),
    });
    const answer = await client.chat({ prompt: $('prompt').value, model: $('model').value.trim() || 'deepseek-r1' });
    const answerChecks = answer.checks.filter((c) => c.name.startsWith('answer.'));
    $('chat-checks').replaceChildren(...answerChecks.map((c) => el('li', {}, el('span', { class: c.passed ? 'ok' : 'no' }, c.passed ? 'PASS ' : 'FAIL '), el('code', {}, c.name), ` — ${c.reason}`)));
    if (answer.verified) {
      const insecure = client.report.insecure;
      chatVerdict(insecure ? 'insecure' : 'verified', `${insecure ? 'SIGNED — INSECURE platform' : 'ANSWER VERIFIED'}: sealed to the attested key ${client.sealingKeyFingerprint.slice(0, 16)}…, `
        + `its signature verifies with the attested answer-signing key${insecure ? ', but no hardware vouches for those keys (software TPM)' : ''}.`);
      $('chat-answer').textContent = answer.content;
    } else {
      const first = answer.checks.find((c) => !c.passed);
      chatVerdict('refused', `NOT SHOWN: ${first ? `${plainWords(first.name)} (${first.name} — ${first.reason})` : 'the answer did not verify'}`);
    }
  } catch (e) {
    const first = e instanceof AttestationError ? e.checks.find((c) => !c.passed) : null;
    chatVerdict('refused', `NOTHING SENT: ${first ? `${plainWords(first.name)} (${first.name} — ${first.reason})` : e.message}`);
  } finally {
    setBusy('chat-busy', '');
  }
}

function chatVerdict(kind, text) {
  const p = $('chat-verdict');
  p.className = `chat-verdict ${kind}`;
  p.textContent = text;
}

function download() {
  if (!last) return;
  const text = makeEvidence(last);
  const a = el('a', { href: URL.createObjectURL(new Blob([text], { type: 'application/json' })), download: `tee-evidence-${last.verifiedAt.toISOString().replace(/[:.]/g, '-')}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  $('evidence-status').textContent = `Saved. Re-verify with: tee-verify report-file ${a.download}${last.allowInsecurePlatform ? ' --allow-insecure-platform' : ''}`;
}

async function loadEvidence() {
  await inputsReady;
  let file;
  try {
    file = await readFile($('evidence-file'));
  } catch (e) {
    $('evidence-status').textContent = e.message;
    return;
  }
  $('evidence-file').value = '';
  if (!file) return;
  let evidence;
  try {
    evidence = readEvidence(file.text);
  } catch (e) {
    $('evidence-status').textContent = `${file.name} is not an evidence file: ${e instanceof EvidenceError ? e.message : 'unreadable'}`;
    return;
  }
  const opts = options();
  const { result, verdict, same } = await reverifyEvidence(evidence, verifyReport, opts);
  last = { ...evidence, verifiedAt: evidence.verifiedAt, allowInsecurePlatform: opts.allowInsecurePlatform, trust: await trust(), result };
  const recorded = ` Recorded in the file: ${evidence.verdict.result}${evidence.verdict.failed.length ? ` (${evidence.verdict.failed.join(', ')})` : ''} — ${same ? 'the same verdict' : 'A DIFFERENT VERDICT'}.`
    + (evidence.allowInsecurePlatform && !opts.allowInsecurePlatform ? ' The file was verified with "allow an insecure platform"; this page accepts a software TPM only when you tick it here.' : '');
  show(result, evidence.report, { where: `Re-verified offline from ${file.name}: ${evidence.service ?? 'unknown service'}, as of ${evidence.verifiedAt.toISOString()}`, recorded });
  $('evidence-status').textContent = `${file.name}: re-verified to ${verdict.result}; recorded ${evidence.verdict.result}: ${same ? 'same verdict' : 'different verdict'}.`;
  $('download').disabled = false;
}

async function loadInput(id, key, status, describe) {
  try {
    inputs[key] = await readFile($(id));
    if (status) $(status).textContent = describe(inputs[key]);
  } catch (e) {
    inputs[key] = null;
    if (status) $(status).textContent = e.message;
  }
}

/** A policy file, or a release manifest made into its policy here (the rules of `policy from-release`). */
async function loadPolicyInput() {
  let file;
  try { file = await readFile($('policy-file')); } catch (e) { inputs.policy = null; $('policy-status').textContent = e.message; return; }
  inputs.policy = file;
  if (file && isReleaseManifest(file.text)) {
    try {
      inputs.policy = { name: file.name, text: await policyFromRelease(file.text), release: true };
    } catch (e) {
      // Refused, not ignored: verifying "without" the release the user chose would look like a pass.
      // A policy that fails to load (policy.format, with the reason), so the evidence file re-verifies to the same refusal.
      inputs.policy = { name: file.name, text: JSON.stringify({ 'not a usable release manifest': e instanceof ReleaseError ? e.message : 'unreadable' }), release: true };
      $('policy-status').textContent = `${file.name} is a release manifest that cannot be made into a policy (${e instanceof ReleaseError ? e.message : 'unreadable'}); verifying with it is refused (policy.format).`;
      return;
    }
  }
  $('policy-status').textContent = describePolicy(inputs.policy);
}

function describePolicy(file) {
  if (!file) return 'No policy: which TD and which release runs are not checked (any genuine TD passes).';
  try {
    const p = loadPolicy(file.text);
    const parts = [p.platform ? `platform ${p.platform}` : null, p.td.size ? `${p.td.size} TD value(s)` : null, p.pcrs.size ? `PCRs ${[...p.pcrs.keys()].join(', ')}` : null,
      p.app ? `the release (${p.app.images.length} images)` : null, p.signingKeyFingerprint ? 'a pinned signing key' : null].filter(Boolean);
    return `${file.name}${file.release ? ' (a release manifest, made into its policy here as `tee-verify policy from-release` does; no TD values)' : ''}: `
      + `${parts.length ? parts.join(', ') : 'no expectations'}; TCB statuses accepted: ${p.tcbAccept.join(', ')}.`;
  } catch (e) {
    return `${file.name} does not load as a policy (${e instanceof PolicyFormatError ? e.message : 'unreadable'}); verifying with it is refused (policy.format).`;
  }
}

function init() {
  $('origin-where').textContent = location.protocol === 'file:' ? 'This copy was opened from a local file.' : `This copy was served by ${location.origin}.`;
  $('intel-root-status').textContent = `Default: Intel SGX Root CA, built into this page (SHA-256 ${INTEL_SGX_ROOT_SHA256}). Load another only for test evidence.`;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('service');
  if (fromHash) $('service').value = fromHash;
  $('verify').addEventListener('click', () => { verifyService().catch((e) => showNoVerdict('NOT VERIFIED', `the page failed: ${e.message}`)); });
  $('service').addEventListener('keydown', (e) => { if (e.key === 'Enter') $('verify').click(); });
  $('chat').addEventListener('click', () => { chat(); });
  $('download').addEventListener('click', download);
  $('evidence-file').addEventListener('change', () => { loadEvidence(); });
  $('policy-file').addEventListener('change', () => track(loadPolicyInput()));
  $('intel-root').addEventListener('change', () => track(loadInput('intel-root', 'intelRoot', 'intel-root-status', (f) => (f ? `Using ${f.name} instead of Intel's root: for test evidence only.` : 'Default: Intel SGX Root CA, built into this page.'))));
  $('collateral-file').addEventListener('change', () => track(loadInput('collateral-file', 'collateral', 'collateral-status', (f) => (f ? `Using ${f.name}: checked against the Intel root like any collateral.` : 'None.'))));
  $('amd-ark').addEventListener('change', () => track(loadInput('amd-ark', 'amdArk')));
  $('imds-root').addEventListener('change', () => track(loadInput('imds-root', 'imdsRoot')));
  document.body.dataset.ready = 'true';
}

init();
