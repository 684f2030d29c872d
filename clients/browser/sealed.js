// Sealed chat from a page or an extension: verify the service, then seal every request body to the
// gateway's attested HPKE key with EHBP (the `ehbp` client by Tinfoil, given our attested key — never
// a key the server merely offers), open the answer, and verify its signature against the attested
// key set. The edge in between sees headers, sizes and timing; not the prompt, not the answer.

import { Identity, Transport, KeyConfigMismatchError } from 'ehbp';
import { hex, utf8 } from './bytes.js';
import { fetchAnswerSignature, fetchVerifiedReport, verifyAnswer } from './tee-verify.js';

/** The key-set purpose and algorithm of the gateway's sealing keys (PROTOCOL.md "Key set"). */
export const BODY_SEALING = { purpose: 'body-sealing', alg: 'HPKE-X25519-SHA256-AES256GCM' };

/** The service could not be verified, or its sealing key is not one it attested; nothing was sent. */
export class AttestationError extends Error {
  constructor(message, checks = []) {
    super(message);
    this.name = 'AttestationError';
    this.checks = checks;
  }
}

const fail = (name, reason) => ({ name, passed: false, reason });
const VERIFY_OPTIONS = ['policy', 'allowInsecurePlatform', 'intelRoot', 'amdArk', 'imdsRoots', 'collateral', 'now'];
const randomHex = (n) => hex(globalThis.crypto.getRandomValues(new Uint8Array(n)));

/** The X25519 key of an RFC 9458 key config (key id, KEM 0x0020, 32-byte key, suites), or null. */
function keyConfigPublicKey(bytes) {
  if (bytes.length < 3 + 32 + 2 || ((bytes[1] << 8) | bytes[2]) !== 0x0020) return null;
  return bytes.subarray(3, 35);
}

/**
 * Verifies the service at `baseUrl` and returns a client that talks to it sealed.
 * @param {string} baseUrl the gateway, e.g. `https://llm.example.com`
 * @param {{apiKey: string, policy?: string|object, allowInsecurePlatform?: boolean, intelRoot?: string,
 *   amdArk?: string, imdsRoots?: string[], collateral?: string|object, now?: Date, fetch?: Function}} options
 *   the verifier's options (see verifyReport) and the API key
 * @returns {Promise<{report: object, chat: Function, reverify: Function}>}
 * @throws {AttestationError} when the report does not verify or the offered sealing key is not attested
 */
export async function createSealedClient(baseUrl, options = {}) {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const verifyOptions = Object.fromEntries(VERIFY_OPTIONS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
  let state = null;

  async function reverify() {
    const { report } = await fetchVerifiedReport(baseUrl, verifyOptions, fetchImpl);
    if (!report.passed) throw new AttestationError('the service did not verify: nothing was sent', report.checks);
    const attested = report.keySet.keys.filter((k) => k.purpose === BODY_SEALING.purpose && k.alg === BODY_SEALING.alg);
    if (attested.length === 0) throw new AttestationError('the verified key set has no body-sealing key: this service cannot receive sealed bodies', report.checks);
    // Which attested key this replica holds: its key config, accepted only if the key is in the attested set.
    const response = await fetchImpl(new URL('/.well-known/hpke-keys', baseUrl));
    const offered = response.ok ? keyConfigPublicKey(new Uint8Array(await response.arrayBuffer())) : null;
    const key = offered && attested.find((k) => hex(k.publicKey) === hex(offered));
    if (!key) {
      throw new AttestationError('the sealing key the service offers is not in its attested key set: nothing was sent',
        [...report.checks, fail('sealing.key', 'the key at /.well-known/hpke-keys is not a body-sealing key of the verified key set')]);
    }
    const identity = await Identity.fromPublicKeyHex(hex(key.publicKey));
    state = { report, transport: new Transport(identity, new URL(baseUrl).host), key };
    return report;
  }

  /** Sends one sealed request; a 422 key mismatch (the gateway restarted: a new key) re-verifies and retries once. */
  async function send(path, body, headers) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await state.transport.post(new URL(path, baseUrl).toString(), body, { headers });
      } catch (e) {
        if (!(e instanceof KeyConfigMismatchError) || attempt > 0) throw e;
        await reverify();
      }
    }
  }

  /**
   * One chat completion, sealed. With `stream: true`, `onDelta(delta)` gets each SSE chunk's delta
   * as it arrives. The result is returned only after the answer's signature verified.
   * @returns {Promise<{content: string, reasoning: string|null, verified: boolean, checks: object[], id: string, status: number}>}
   */
  async function chat({ messages, prompt, model = 'deepseek-r1', stream = false, onDelta = null, ...rest } = {}) {
    const request = { model, messages: messages ?? [{ role: 'user', content: prompt }], ...rest };
    if (stream) request.stream = true;
    const body = utf8.encode(JSON.stringify(request));
    const nonce = randomHex(32);
    const response = await send('/v1/chat/completions', body, {
      'content-type': 'application/json', authorization: `Bearer ${options.apiKey}`, 'x-answer-nonce': nonce,
    });
    const checks = [...state.report.checks];
    const refused = (status, reason, name = 'answer.statement') =>
      ({ content: '', reasoning: null, verified: false, checks: [...checks, fail(name, reason)], id: '', status });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message += `: ${(await response.json())?.error?.message ?? ''}`; } catch { /* not JSON */ }
      return refused(response.status, `the chat failed (${message})`);
    }
    // Read the opened body, handing stream deltas out as they come; keep the exact bytes for the statement.
    const reader = response.body.getReader();
    const parts = [];
    let length = 0;
    let pending = '';
    const decoder = new TextDecoder();
    let content = '';
    let reasoning = null;
    let id = '';
    let created = null;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      length += value.length;
      if (!stream) continue;
      pending += decoder.decode(value, { stream: true });
      let end;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const event = pending.slice(0, end);
        pending = pending.slice(end + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
          let chunk;
          try { chunk = JSON.parse(line.slice(6)); } catch { continue; }
          if (chunk.error) continue;
          if (typeof chunk.id === 'string' && !id) { id = chunk.id; created = chunk.created; }
          const delta = chunk.choices?.[0]?.delta ?? {};
          if (typeof delta.content === 'string') content += delta.content;
          if (typeof delta.reasoning_content === 'string') reasoning = (reasoning ?? '') + delta.reasoning_content;
          if (onDelta) onDelta(delta);
        }
      }
    }
    const responseBytes = new Uint8Array(length);
    let at = 0;
    for (const p of parts) { responseBytes.set(p, at); at += p.length; }
    if (!stream) {
      let answer = null;
      try { answer = JSON.parse(new TextDecoder().decode(responseBytes)); } catch { answer = null; }
      id = typeof answer?.id === 'string' ? answer.id : '';
      created = answer?.created;
      const message = answer?.choices?.[0]?.message ?? {};
      content = message.content ?? '';
      reasoning = message.reasoning_content ?? null;
    }
    if (!/^chatcmpl-[A-Za-z0-9]{1,64}$/.test(id)) return refused(response.status, 'the answer has no completion id');
    // The signature is a statement of hashes; it needs no sealing (a body-less GET passes through EHBP as is).
    const { signature, status } = await fetchAnswerSignature(baseUrl, options.apiKey, id, fetchImpl);
    if (!signature) return refused(response.status, `no signature for the answer (HTTP ${status})`, 'answer.signature');
    const verdict = await verifyAnswer(state.report.keySet, { id, created, request: body, response: responseBytes, nonce, signature });
    return verdict.passed
      ? { content, reasoning, verified: true, checks: [...checks, ...verdict.checks], id, status: response.status }
      : { content: '', reasoning: null, verified: false, checks: [...checks, ...verdict.checks], id, status: response.status };
  }

  await reverify();
  return {
    get report() { return state.report; },
    get sealingKeyFingerprint() { return state.key.fingerprint; },
    chat,
    reverify,
  };
}
