// Calls the gateway with the official Node SDKs and prints what each SDK's error object
// carries, one JSON object per case, for integration/tests/test_error_shapes.py.
//   node sdk_errors.mjs < cases.json
// A case: {"name", "sdk": "anthropic" | "openai", "baseURL", "apiKey", "request", "headers"}.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const input = await new Promise((resolve) => {
  let data = '';
  process.stdin.on('data', (c) => (data += c));
  process.stdin.on('end', () => resolve(data));
});

const out = [];
for (const c of JSON.parse(input)) {
  const options = { baseURL: c.baseURL, apiKey: c.apiKey, maxRetries: 0, timeout: 30000, defaultHeaders: c.headers ?? {} };
  const client = c.sdk === 'anthropic' ? new Anthropic(options) : new OpenAI(options);
  try {
    const res = c.sdk === 'anthropic'
      ? await client.messages.create(c.request)
      : await client.chat.completions.create(c.request);
    out.push({ name: c.name, ok: true, id: res.id ?? null });
  } catch (e) {
    out.push({
      name: c.name,
      ok: false,
      class: e.constructor.name,
      status: e.status ?? null,
      message: e.message,
      // Anthropic's SDK: the body's error.message, error.type, error.details.error_code.
      apiMessage: e.apiMessage ?? null,
      type: e.type ?? null,
      errorCode: e.errorCode ?? null,
      // OpenAI's SDK: error.code, error.param.
      code: e.code ?? null,
      requestID: e.requestID ?? null,
      headerCode: e.headers?.get?.('x-genai-error-code') ?? null,
      body: e.error ?? null,
    });
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
