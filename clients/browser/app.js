// The measured launch (PROTOCOL.md "App event log"), as Attestation.Verifier/AppMeasurement.cs
// checks it: the report's `app_event_log` — each digest recomputed from its type and data — is
// replayed (PCR = SHA-256(PCR ‖ digest) from 32 zero bytes) to the app PCR's value as the verified
// TPM quote covers it, then its events are checked against the policy's `app` section. Same check
// names and verdicts as .NET; hostile logs are failed checks, never exceptions.

import { hex, concat, equal, sha256, utf8 } from './bytes.js';
import { JsonNumber, isObject, member, has } from './json.js';

export const APP_EVENT_PREFIX = 'tee-aspire/app-event/v1';
export const LOCKED_ACCESS = 'profile=locked ssh=off extensions=off';
const TYPES = ['compose', 'image', 'config', 'interactive_access', 'unexpected'];
const CHECKS = ['app.replay', 'app.compose', 'app.images', 'app.config', 'app.unexpected', 'app.interactive_access'];
const APP_FIELDS = ['pcr', 'compose_sha256', 'images', 'config_sha256', 'allow_interactive_access'];
const MAX_EVENTS = 4096;
const MAX_DATA = 512;

const isHex64 = (s) => typeof s === 'string' && /^[0-9a-fA-F]{64}$/.test(s);
const isImageDigest = (s) => typeof s === 'string' && /^sha256:[0-9a-f]{64}$/.test(s);
const integer = (v) => (v instanceof JsonNumber ? (/^-?\d+$/.test(v.raw) ? Number(v.raw) : NaN) : typeof v === 'number' && Number.isInteger(v) ? v : NaN);

/** The policy's `app` section, strictly (unknown fields refused); throws `make(reason)` otherwise. */
export function readAppPolicy(value, make) {
  if (!isObject(value)) throw make('app must be a JSON object');
  for (const name of Object.keys(value)) if (!APP_FIELDS.includes(name)) throw make(`unknown app field '${name.length > 40 ? '(long name)' : name}'`);
  const pcr = has(value, 'pcr') ? integer(member(value, 'pcr')) : 13;
  const compose = has(value, 'compose_sha256') ? member(value, 'compose_sha256') : null;
  const config = has(value, 'config_sha256') ? member(value, 'config_sha256') : null;
  const images = has(value, 'images') ? member(value, 'images') : [];
  const allow = has(value, 'allow_interactive_access') ? member(value, 'allow_interactive_access') : false;
  if (!(pcr >= 0 && pcr <= 23)) throw make('app.pcr must be 0–23');
  if (compose !== null && !isHex64(compose)) throw make('app.compose_sha256 must be 64 hex digits');
  if (config !== null && !isHex64(config)) throw make('app.config_sha256 must be 64 hex digits');
  if (!Array.isArray(images) || images.length === 0 || !images.every(isImageDigest)) throw make('app.images must list image digests sha256:<64 hex>');
  if (typeof allow !== 'boolean') throw make('app.allow_interactive_access must be true or false');
  return { pcr, composeSha256: compose, configSha256: config, images: [...images], allowInteractiveAccess: allow };
}

export const eventDigest = (type, data) => sha256(utf8.encode(`${APP_EVENT_PREFIX}\n${type}\n${data}`));

export async function replay(digests) {
  let pcr = new Uint8Array(32);
  for (const d of digests) pcr = await sha256(concat(pcr, d));
  return pcr;
}

/** Parses the log strictly (fields present and well-formed, indexes 0,1,2,…, digests recomputed); {events} or {error}. */
export async function parseAppLog(log) {
  if (!Array.isArray(log)) return { error: 'not a list' };
  if (log.length > MAX_EVENTS) return { error: `more than ${MAX_EVENTS} events` };
  const events = [];
  for (const e of log) {
    const i = events.length;
    if (!isObject(e)) return { error: `event ${i} is not an object` };
    if (integer(has(e, 'index') ? member(e, 'index') : null) !== i) return { error: `event ${i} has no index ${i}` };
    const type = has(e, 'type') ? member(e, 'type') : null;
    if (typeof type !== 'string' || !TYPES.includes(type)) return { error: `event ${i} has an unknown type` };
    const data = has(e, 'data') ? member(e, 'data') : null;
    if (typeof data !== 'string' || data.length > MAX_DATA || !/^[\x20-\x7e]*$/.test(data)) return { error: `event ${i}'s data is not printable ASCII of at most ${MAX_DATA} bytes` };
    const valid = type === 'compose' || type === 'config' ? isHex64(data) && data === data.toLowerCase() : type === 'image' ? isImageDigest(data) : data.length > 0;
    if (!valid) return { error: `event ${i}'s ${type} data is malformed` };
    const digest = await eventDigest(type, data);
    const claimed = has(e, 'digest') ? member(e, 'digest') : '';
    if (claimed !== hex(digest)) return { error: `event ${i}'s digest is not SHA-256 of its canonical data` };
    events.push({ index: i, type, data, digest });
  }
  return { events };
}

const failAll = (reason) => [
  { name: 'app.replay', passed: false, reason },
  ...CHECKS.slice(1).map((name) => ({ name, passed: false, reason: 'not checked: the event log is not proven (app.replay)' })),
];

/** All six app checks for a report, given the PCR values the verified quote covers (Map index → bytes). */
export async function verifyApp(report, quotedPcrs, policy) {
  const log = isObject(report) && has(report, 'app_event_log') ? member(report, 'app_event_log') : null;
  if (!Array.isArray(log)) return failAll('the report has no app event log: nothing shows which software was launched');
  const { events, error } = await parseAppLog(log);
  if (error) return failAll(`the app event log is malformed: ${error}`);
  const quoted = quotedPcrs?.get(policy.pcr);
  if (!quoted) return failAll(`PCR ${policy.pcr} is not covered by a valid quote`);
  const replayed = await replay(events.map((e) => e.digest));
  if (!equal(replayed, quoted)) return failAll(`the ${events.length} events replay to ${hex(replayed).slice(0, 16)}…, the quoted PCR ${policy.pcr} is ${hex(quoted).slice(0, 16)}…`);
  const one = (type, check, expected, what) => {
    const found = events.filter((e) => e.type === type);
    if (found.length !== 1) return { name: check, passed: false, reason: `${found.length} ${type} events: a launch measures ${what} exactly once` };
    if (expected === null) return { name: check, passed: true, reason: `${what} ${found[0].data.slice(0, 16)}… (not pinned by the policy)` };
    return found[0].data.toLowerCase() === expected.toLowerCase()
      ? { name: check, passed: true, reason: `${what} is the release's` }
      : { name: check, passed: false, reason: `${what} is ${found[0].data.slice(0, 16)}…, the release's is ${expected.slice(0, 16)}…` };
  };
  const launched = new Set(events.filter((e) => e.type === 'image').map((e) => e.data));
  const expected = new Set(policy.images.map((i) => i.toLowerCase()));
  const extra = [...launched].filter((i) => !expected.has(i));
  const missing = [...expected].filter((i) => !launched.has(i));
  const unexpected = events.find((e) => e.type === 'unexpected');
  const access = events.filter((e) => e.type === 'interactive_access');
  return [
    { name: 'app.replay', passed: true, reason: `${events.length} events replay to the quoted PCR ${policy.pcr}` },
    one('compose', 'app.compose', policy.composeSha256, 'the compose file'),
    extra.length === 0 && missing.length === 0
      ? { name: 'app.images', passed: true, reason: `the release's ${expected.size} images, by digest` }
      : { name: 'app.images', passed: false, reason: `images not in the release: [${extra.join(', ')}]; release images not launched: [${missing.join(', ')}]` },
    one('config', 'app.config', policy.configSha256, 'the configuration'),
    unexpected
      ? { name: 'app.unexpected', passed: false, reason: `a container outside the release was started: ${unexpected.data}` }
      : { name: 'app.unexpected', passed: true, reason: 'no container outside the release was started' },
    access.length !== 1
      ? { name: 'app.interactive_access', passed: false, reason: `${access.length} interactive_access events: a launch measures it exactly once` }
      : access[0].data === LOCKED_ACCESS
        ? { name: 'app.interactive_access', passed: true, reason: 'no SSH, no VM extensions (locked profile)' }
        : policy.allowInteractiveAccess
          ? { name: 'app.interactive_access', passed: true, reason: `interactive access on (${access[0].data}), accepted by the policy` }
          : { name: 'app.interactive_access', passed: false, reason: `interactive access is on: ${access[0].data}` },
  ];
}
