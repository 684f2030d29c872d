// The official `openai` npm client, unchanged, against `tee-verify proxy`: the proxy verifies the
// service, seals every body and verifies every answer. tests/EndToEnd.Tests (SealingProxyTests)
// starts the stack and the proxy and runs this file with PROXY_URL, TEE_KEY and CANARY set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const skip = !process.env.PROXY_URL && 'run by SealingProxyTests (needs PROXY_URL)';
const client = () => new OpenAI({ baseURL: `${process.env.PROXY_URL}/v1`, apiKey: process.env.TEE_KEY, maxRetries: 0, timeout: 60_000 });
const canary = process.env.CANARY;

test('lists models through the proxy', { skip }, async () => {
  const ids = [];
  for await (const m of client().models.list()) ids.push(m.id);
  assert.ok(ids.includes('deepseek-r1'));
});

test('completes a chat through the proxy', { skip }, async () => {
  const r = await client().chat.completions.create({ model: 'deepseek-r1', messages: [{ role: 'user', content: `node ${canary}` }] });
  assert.match(r.choices[0].message.content, new RegExp(`^You said: node ${canary}\\.`));
  assert.ok(r.usage.completion_tokens > 0);
});

test('streams through the proxy, chunk by chunk, to the end', { skip }, async () => {
  const stream = await client().chat.completions.create({
    model: 'deepseek-r1', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: `node stream ${canary}` }],
  });
  let content = '';
  let chunks = 0;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    chunks++;
    content += chunk.choices[0]?.delta?.content ?? '';
    usage ??= chunk.usage;
  }
  assert.match(content, new RegExp(`^You said: node stream ${canary}\\.`));
  assert.ok(chunks > 5);
  assert.ok(usage.total_tokens > 0);
});
