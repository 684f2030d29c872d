// The third-party EHBP client (npm 'ehbp', tinfoilsh) against our gateway, unchanged:
// it fetches /.well-known/hpke-keys, seals the request, opens the sealed answer.
// Run by tests/Gateway.Api.Tests (SealedBodiesTests) with GATEWAY_URL and TEE_KEY set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransport } from 'ehbp';

const gateway = process.env.GATEWAY_URL;
const key = process.env.TEE_KEY;
const canary = 'zqxnodecanary51';

const chat = (stream) => JSON.stringify({
  model: 'deepseek-r1',
  stream,
  messages: [{ role: 'user', content: `hello ${canary}` }],
});

const post = (transport, body) => transport.post(`${gateway}/v1/chat/completions`, body, {
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
});

test('the ehbp client chats with the gateway (non-stream)', async () => {
  const transport = await createTransport(gateway);
  const response = await post(transport, chat(false));
  assert.equal(response.status, 200);
  const answer = await response.json();
  assert.match(answer.choices[0].message.content, new RegExp(`You said: hello ${canary}`));
});

test('the ehbp client streams from the gateway', async () => {
  const transport = await createTransport(gateway);
  const response = await post(transport, chat(true));
  assert.equal(response.status, 200);
  const text = await response.text();
  const events = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
  assert.equal(events.at(-1), '[DONE]');
  assert.ok(events.length > 10, `only ${events.length} events`);
  assert.ok(events.some((e) => e.includes(canary)));
});

test('the ehbp client gets a sealed error from a later stage', async () => {
  const transport = await createTransport(gateway);
  const response = await transport.post(`${gateway}/v1/chat/completions`, chat(false), {
    headers: { authorization: 'Bearer sk-tee-wrong-key-000000000000000', 'content-type': 'application/json' },
  });
  assert.equal(response.status, 401);
  const error = await response.json();
  assert.ok(error.error.message.length > 0);
});
