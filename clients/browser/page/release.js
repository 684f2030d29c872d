// A policy made in the page from a release manifest (scripts/release.sh's release-manifest.json),
// by the rules of `tee-verify policy from-release` (Attestation.Verifier/Cli/FromReleaseCommand.cs):
// the manifest's summary must be what its events say and its events must replay to its app PCR
// value, or it is refused; the policy is the app PCR's value plus the `app` section (images,
// compose, config; interactive access not allowed). No TD values: a manifest has none (the CLI's
// `--td` adds them). No DOM here: node tests use it.
import { hex } from '../bytes.js';
import { parseStrictJson, JsonNumber, isObject, member } from '../json.js';
import { parseAppLog, replay } from '../app.js';

/** A release manifest that cannot be made into a policy. */
export class ReleaseError extends Error {}

const isHex64 = (s) => typeof s === 'string' && /^[0-9a-fA-F]{64}$/.test(s);
const isImage = (s) => typeof s === 'string' && /^sha256:[0-9a-f]{64}$/.test(s);
const int = (v) => (v instanceof JsonNumber && /^\d+$/.test(v.raw) ? Number(v.raw) : NaN);

/** Whether a JSON text looks like a release manifest (has `app_pcr` and `events`) rather than a policy. */
export function isReleaseManifest(text) {
  try {
    const { value } = parseStrictJson(text);
    return isObject(value) && member(value, 'app_pcr') !== undefined && member(value, 'events') !== undefined;
  } catch {
    return false;
  }
}

/** The policy file's text for a release manifest's text; throws ReleaseError naming the inconsistency. */
export async function policyFromRelease(text) {
  let m;
  try { m = parseStrictJson(text).value; } catch (e) { throw new ReleaseError(`not a release manifest: ${e.message}`); }
  if (!isObject(m)) throw new ReleaseError('not a release manifest: not a JSON object');
  if (int(member(m, 'version')) !== 1) throw new ReleaseError('version is not 1');
  const compose = member(m, 'compose_sha256');
  const config = member(m, 'config_sha256');
  const images = member(m, 'images');
  const access = member(m, 'interactive_access');
  const pcr = member(m, 'app_pcr');
  const index = int(member(pcr, 'index'));
  const value = member(pcr, 'sha256');
  if (!isHex64(compose) || !isHex64(config)) throw new ReleaseError('compose_sha256 and config_sha256 must be 64 hex digits');
  if (!Array.isArray(images) || images.length === 0 || !images.every(isImage)) throw new ReleaseError('images must list image digests sha256:<64 hex>');
  if (typeof access !== 'string') throw new ReleaseError('interactive_access must be text');
  if (!(index >= 0 && index <= 23)) throw new ReleaseError('app_pcr.index must be 0–23');
  if (!isHex64(value)) throw new ReleaseError('app_pcr.sha256 must be 64 hex digits');
  const { events, error } = await parseAppLog(member(m, 'events'));
  if (error) throw new ReleaseError(`events: ${error}`);
  if (hex(await replay(events.map((e) => e.digest))) !== value.toLowerCase()) throw new ReleaseError('the events do not replay to app_pcr.sha256');
  const single = events.filter((e) => ['compose', 'config', 'interactive_access'].includes(e.type)).map((e) => `${e.type}=${e.data}`);
  if (single.join('\n') !== [`compose=${compose}`, `config=${config}`, `interactive_access=${access}`].join('\n')) throw new ReleaseError('compose/config/interactive_access differ from the events');
  const sorted = (list) => [...list].sort();
  if (sorted(events.filter((e) => e.type === 'image').map((e) => e.data)).join('\n') !== sorted(images).join('\n')) throw new ReleaseError('images differ from the events');
  if (events.some((e) => e.type === 'unexpected')) throw new ReleaseError('a release has no unexpected events');
  const policy = {
    pcrs: { [String(index)]: value.toLowerCase() },
    app: { pcr: index, compose_sha256: compose, images: sorted(images), config_sha256: config, allow_interactive_access: false },
  };
  return `${JSON.stringify(policy, null, 2)}\n`;
}
