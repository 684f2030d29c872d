// The official `openai` npm client against the running stack. tests/EndToEnd.Tests starts the
// stack, makes the keys and runs this file with GATEWAY_URL, TEE_KEY and TEE_LIMITED_KEY set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = `${process.env.GATEWAY_URL}/v1`;
const client = (apiKey) => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const ok = client(process.env.TEE_KEY);
const limited = client(process.env.TEE_LIMITED_KEY); // models: [deepseek-r1], rpm: 3

test('lists models including deepseek-r1', async () => {
  const ids = [];
  for await (const m of ok.models.list()) ids.push(m.id);
  assert.ok(ids.includes('deepseek-r1'));
});

test('completes a chat', async () => {
  const r = await ok.chat.completions.create({ model: 'deepseek-r1', messages: [{ role: 'user', content: 'hello node' }] });
  assert.match(r.choices[0].message.content, /^You said: hello node\./);
  assert.ok(r.choices[0].message.reasoning_content.length > 0);
  assert.ok(r.usage.completion_tokens > 0);
});

test('streams with reasoning, content and a usage chunk', async () => {
  const stream = await ok.chat.completions.create({
    model: 'deepseek-r1', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'stream node' }],
  });
  let content = '';
  let reasoning = '';
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    const delta = chunk.choices[0]?.delta ?? {};
    content += delta.content ?? '';
    reasoning += delta.reasoning_content ?? '';
    usage ??= chunk.usage;
  }
  assert.match(content, /^You said: stream node\./);
  assert.ok(reasoning.length > 0);
  assert.ok(usage.total_tokens > 0);
});

test('every error class the SDK exposes', async () => {
  await assert.rejects(client('sk-tee-wrong-000000000000000000000').models.list(), OpenAI.AuthenticationError);
  await assert.rejects(limited.chat.completions.create({ model: 'deepseek-r1-7b', messages: [{ role: 'user', content: 'x' }] }), OpenAI.PermissionDeniedError);
  await assert.rejects(ok.models.retrieve('gpt-4'), OpenAI.NotFoundError);
  await assert.rejects(ok.chat.completions.create({ model: 'deepseek-r1', temperature: 5, messages: [{ role: 'user', content: 'x' }] }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, 'temperature');
    return true;
  });
  let rateLimited = null;
  for (let i = 0; i < 6 && !rateLimited; i++) {
    try { await limited.models.list(); } catch (e) { rateLimited = e; }
  }
  assert.ok(rateLimited instanceof OpenAI.RateLimitError);
  assert.ok(Number(rateLimited.headers.get('retry-after')) >= 1);
});

test('a failing backend is an InternalServerError (503)', async () => {
  await fetch(`${process.env.FAKE_OLLAMA_URL}/_double/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'error_500', count: 3 }) });
  await assert.rejects(ok.chat.completions.create({ model: 'deepseek-r1', messages: [{ role: 'user', content: 'x' }] }), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError);
    assert.equal(e.status, 503);
    return true;
  });
  // The backend is taken out after the failures and probed back in; leave the stack serving.
  for (let i = 0; i < 60; i++) {
    try { await ok.chat.completions.create({ model: 'deepseek-r1', messages: [{ role: 'user', content: 'back?' }] }); return; } catch { await new Promise((r) => setTimeout(r, 500)); }
  }
  assert.fail('the backend did not come back');
});
