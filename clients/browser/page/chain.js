// The chain from silicon to answer, one row per link, in words a non-specialist follows: which
// checks (README "Checks", by name) make each link, what the link proves and what it does not.
// A row is PASSED only when checks of it ran and all passed; no check ran → NOT CHECKED, never
// passed. What the service merely says is never a row's evidence. No DOM here: node tests use it.

const TD_POLICY = /^policy\.(mrtd|rtmr[0-3]|mrseam|td_attributes|xfam|debug)$/;

export const ROWS = [
  {
    id: 'evidence',
    title: 'The evidence can be read',
    match: (n) => ['report.format', 'policy.format', 'verifier.internal_error'].includes(n),
    proves: 'The report is well-formed JSON with no field given twice, and your policy file loads.',
    not: 'Anything about what the service runs: the rows below check that.',
    none: 'Nothing was read.',
  },
  {
    id: 'hardware',
    title: 'Hardware and TCB',
    match: (n) => n === 'platform' || n === 'policy.platform' || n.startsWith('td_quote') || n.startsWith('snp.') || n.startsWith('imds.')
      || (n.startsWith('hcl_report') && n !== 'hcl_report.ak' && n !== 'hcl_report.user_data'),
    proves: 'A chip signed this report: the TD quote chains to Intel\'s root (or the SEV-SNP report to AMD\'s), Intel\'s revocation lists and TCB data are signed and current, and the chip\'s security patch level (TCB status) is one your policy accepts.',
    not: 'That the patch level is still accepted tomorrow (fresh collateral tells). With a software TPM nothing vouches for the TPM at all: that is INSECURE.',
    none: 'No hardware check ran.',
  },
  {
    id: 'td',
    title: 'Which TD (the confidential VM\'s firmware)',
    match: (n) => TD_POLICY.test(n),
    proves: 'The TD\'s measurements (MRTD, RTMR0–3, the TDX module, attributes) are values your policy lists, and it is not in debug mode.',
    not: 'Without a policy naming them, any genuine TD passes, whatever firmware it booted.',
    none: 'Not checked: there is no verified TD quote, or your policy names no TD values. Any genuine TD would pass.',
  },
  {
    id: 'keys',
    title: 'The key set and its binding',
    match: (n) => n.startsWith('key_set') || n.startsWith('tpm_quote') || n === 'hcl_report.ak' || n === 'hcl_report.user_data',
    proves: 'The service\'s keys — the one that signs answers, the one prompts are sealed to — are the ones the TPM\'s signed quote binds (and, on hardware, the TD\'s report); the quote is by the TPM key the hardware names.',
    not: 'Who operates the service, or that the keys never leave it: that rests on the measured software below.',
    none: 'No key check ran.',
  },
  {
    id: 'release',
    title: 'The measured release (software)',
    match: (n) => /^policy\.pcr[0-9]+$/.test(n) || n.startsWith('app.'),
    proves: 'The TPM\'s quoted measurements are your policy\'s; with a release policy, the launch measured exactly the release\'s compose file, image digests and configuration, no other container started, and interactive access (SSH, VM extensions) is off.',
    not: 'What the images do (that is the release\'s review), or processes inside a container. With a stock guest image the launch scripts sit on an unmeasured disk.',
    none: 'Not checked: your policy names no PCR values and no release. Any software would pass.',
  },
  {
    id: 'models',
    title: 'The models and their digests',
    match: () => false,
    proves: 'Nothing by itself: the list below is what the service reports. The weights are pinned by digest in the measured configuration (app.config, in the release row, when your policy is a release\'s), and each signed answer names its model and digest.',
    not: 'The report\'s model list is not signed on its own: a mismatch with the release you trust is the service\'s word against its measurements.',
    none: 'The service does not report its models.',
  },
  {
    id: 'freshness',
    title: 'Freshness',
    match: (n) => n === 'nonce' || n === 'tpm_quote.extra_data',
    proves: 'The report answers the random nonce this page made for this verification: the TPM signed it after you asked, not before.',
    not: 'That the service stays the same after this moment: verify again, or use the sealed chat, whose every answer is signed.',
    none: 'No freshness check ran.',
  },
];

/** Plain words for the first failing check (the verdict's reason); the check's own reason follows them. */
const PLAIN = {
  'report.format': 'The report is not a well-formed attestation report.',
  'policy.format': 'Your policy file cannot be used.',
  'verifier.internal_error': 'The verifier failed on this input; it refuses rather than guesses.',
  nonce: 'The report does not answer the nonce this page sent: it may be an old report replayed.',
  key_set: 'The report lists no usable key set, so nothing ties the service\'s keys to the evidence.',
  'key_set.pinned': 'The service\'s answer-signing key is not the one your policy pins.',
  tpm_quote: 'The report has no TPM quote: nothing signed it.',
  'tpm_quote.structure': 'The TPM quote is malformed.',
  'tpm_quote.signature': 'The TPM quote\'s signature does not verify: the report was altered or forged.',
  'tpm_quote.pcr_values': 'The measurements in the report are not exactly the ones the TPM quoted.',
  'tpm_quote.pcr_digest': 'The measurements in the report are not what the TPM signed: they were altered.',
  'tpm_quote.extra_data': 'The TPM did not sign this nonce with this key set: the keys were swapped, or the report is not fresh.',
  platform: 'There is no proof of hardware: no chip-signed evidence vouches for this report. What the service says about its platform proves nothing.',
  'policy.platform': 'The hardware is not the platform your policy requires.',
  'policy.debug': 'The TD runs in debug mode: its host can read and change it.',
  'app.replay': 'The software launch log does not match what the TPM measured.',
  'app.compose': 'The service launched another compose file than the release\'s.',
  'app.images': 'The service runs container images that are not exactly the release\'s.',
  'app.config': 'The service runs another configuration than the release\'s.',
  'app.unexpected': 'A container outside the release was started.',
  'app.interactive_access': 'Interactive access (SSH or VM extensions) is on: an operator could change the running software.',
  'sealing.key': 'The sealing key the service offers is not the one its report binds.',
  'answer.statement': 'The answer\'s signed statement does not cover this request and answer.',
  'answer.key': 'The answer was signed by a key the verified report does not list.',
  'answer.signature': 'The answer\'s signature does not verify: it did not come from the attested service, or it was changed.',
};

/** Plain words for a failed check by name, with families (td_quote.*, hcl_report.*, policy.pcrN …) covered. */
export function plainWords(name) {
  if (PLAIN[name]) return PLAIN[name];
  if (/^policy\.pcr[0-9]+$/.test(name)) return `Measurement PCR ${name.slice(10)} is not the value your policy expects: the service runs other software.`;
  if (TD_POLICY.test(name)) return `The TD's ${name.slice(7).toUpperCase().replace('_', ' ')} is not a value your policy lists: another firmware or another TD.`;
  if (name === 'td_quote.tcb_status' || name === 'td_quote.qe_identity') return 'The chip\'s security patch level (TCB status) is not one your policy accepts.';
  if (name === 'td_quote.collateral') return 'No Intel collateral was given, so revocation and patch level cannot be checked.';
  if (name.startsWith('td_quote') || name.startsWith('snp.')) return 'The hardware report does not verify to the manufacturer\'s root.';
  if (name.startsWith('hcl_report')) return 'The hardware report does not tie the TPM and the key set to the TD.';
  if (name.startsWith('imds.')) return 'Azure\'s signed instance document does not verify.';
  return 'A check failed.';
}

/** The rows for one result: {row, status: passed|failed|insecure|not-checked|reported, checks}. */
export function chainRows(result, report) {
  return ROWS.map((row) => {
    const checks = result.checks.filter((c) => row.match(c.name));
    let status;
    if (row.id === 'models') status = reportedModels(report).length ? 'reported' : 'not-reported';
    // report.format and policy.format are recorded only when they fail: other checks ran, so both read.
    else if (row.id === 'evidence' && checks.length === 0) status = result.checks.length ? 'passed' : 'not-checked';
    else if (checks.length === 0) status = 'not-checked';
    else if (checks.some((c) => !c.passed)) status = 'failed';
    else if (row.id === 'hardware' && result.insecure) status = 'insecure';
    else status = 'passed';
    return { row, status, checks };
  });
}

export const STATUS_TEXT = { passed: 'PASSED', failed: 'FAILED', insecure: 'INSECURE — no hardware root', 'not-checked': 'NOT CHECKED', 'not-reported': 'NOT REPORTED', reported: 'REPORTED, NOT PROVEN' };

/** The models a report lists (`models` or `served_models`: entries with a name and a digest), as text only. */
export function reportedModels(report) {
  const list = report && typeof report === 'object' ? (Array.isArray(report.models) ? report.models : Array.isArray(report.served_models) ? report.served_models : []) : [];
  return list.slice(0, 64).map((m) => {
    if (typeof m === 'string') return { name: m.slice(0, 200), digest: null };
    if (!m || typeof m !== 'object') return null;
    const name = [m.name, m.id, m.model].find((v) => typeof v === 'string') ?? '(unnamed)';
    const digest = [m.digest, m.sha256].find((v) => typeof v === 'string') ?? null;
    return { name: name.slice(0, 200), digest: digest ? digest.slice(0, 200) : null };
  }).filter(Boolean);
}

/** Fields of the report no signature covers, shown as claims (never as evidence). */
export function claims(report) {
  if (!report || typeof report !== 'object') return [];
  const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v)).slice(0, 300);
  return ['platform', 'tee_verified', 'vm_size', 'software', 'note', 'issued_at']
    .filter((k) => report[k] !== undefined && report[k] !== null)
    .map((k) => [k, show(report[k])]);
}
