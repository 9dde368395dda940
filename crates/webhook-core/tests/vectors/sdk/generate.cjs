// Produces ../sdk_vectors.json: one known-answer row per provider, each signature either
// computed by the provider's SDK or computed here and then accepted by the SDK's own verify
// function (the row's `source` says which). Run once, by hand, with the versions pinned in
// package.json:   npm install && node generate.cjs
// CI never runs this script; it reads the committed JSON.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const pkgVersion = (name) => JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', name, 'package.json'), 'utf8')).version;
const hmacHex = (key, data) => crypto.createHmac('sha256', key).update(data).digest('hex');
const hmacB64 = (key, data) => crypto.createHmac('sha256', key).update(data).digest('base64');
const now = Math.floor(Date.now() / 1000);
const rows = [];
const row = (r) => rows.push({ expect: 'ok', now, ...r });

async function main() {
  // Razorpay: validateWebhookSignature(body, signature, secret).
  {
    const { validateWebhookSignature } = require('razorpay/dist/utils/razorpay-utils');
    const secret = 'razorpay_webhook_secret_for_tests';
    const body = JSON.stringify({ entity: 'event', account_id: 'acc_BFQ7uQEaa7j2z7', event: 'payment.captured', contains: ['payment'], payload: { payment: { entity: { id: 'pay_29QQoUBi66xm2f', amount: 5000 } } }, created_at: now });
    const sig = hmacHex(secret, body);
    if (!validateWebhookSignature(body, sig, secret)) throw new Error('razorpay refused');
    if (validateWebhookSignature(body + ' ', sig, secret)) throw new Error('razorpay accepted a tampered body');
    row({ name: 'razorpay: payment.captured', provider: 'razorpay', keys: [secret], headers: [['X-Razorpay-Signature', sig], ['X-Razorpay-Event-Id', 'HbKyAXvT6Qs2Jc']], body, expect_id: 'HbKyAXvT6Qs2Jc', expect_event_type: 'payment.captured', source: `accepted by npm razorpay@${pkgVersion('razorpay')} validateWebhookSignature (tests/vectors/sdk/generate.cjs)` });
  }
  // LINE: validateSignature(body, channelSecret, signature).
  {
    const { validateSignature } = require('@line/bot-sdk');
    const secret = 'line_channel_secret_for_tests';
    const body = JSON.stringify({ destination: 'Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', events: [{ type: 'message', webhookEventId: '01FZ74A0TDDPYRVKNK77XKC3ZR', timestamp: now * 1000, message: { type: 'text', id: '444573844083572737', text: 'héllo ✓' } }] });
    const sig = hmacB64(secret, body);
    if (!validateSignature(body, secret, sig)) throw new Error('line refused');
    if (validateSignature(body + ' ', secret, sig)) throw new Error('line accepted a tampered body');
    row({ name: 'line: message event (UTF-8 text)', provider: 'line', keys: [secret], headers: [['x-line-signature', sig]], body, expect_id: null, source: `accepted by npm @line/bot-sdk@${pkgVersion('@line/bot-sdk')} validateSignature (tests/vectors/sdk/generate.cjs)` });
  }
  // Coinbase Commerce: Webhook.computeSignature, checked by Webhook.verifySigHeader.
  {
    const { Webhook } = require('coinbase-commerce-node');
    const secret = 'coinbase_commerce_shared_secret';
    const body = JSON.stringify({ attempt_number: 1, event: { api_version: '2018-03-22', created_at: '2024-01-01T00:00:00Z', data: { code: 'ABCDEFGH' }, id: '24934862-d980-46cb-9402-43c81b0cdba6', type: 'charge:created' }, id: 'f6a9f9c4-9e0c-4b6f-9d4a-1c2b3d4e5f60', scheduled_for: '2024-01-01T00:00:00Z' });
    const sig = Webhook.computeSignature(body, secret);
    Webhook.verifySigHeader(body, sig, secret);
    row({ name: 'coinbase-commerce: charge:created', provider: 'coinbase-commerce', keys: [secret], headers: [['X-CC-Webhook-Signature', sig]], body, expect_id: '24934862-d980-46cb-9402-43c81b0cdba6', expect_event_type: 'charge:created', source: `computed by npm coinbase-commerce-node@${pkgVersion('coinbase-commerce-node')} Webhook.computeSignature, checked by verifySigHeader (tests/vectors/sdk/generate.cjs)` });
  }
  // GoCardless: webhooks.parse(body, secret, signature) throws unless it verifies.
  {
    const webhooks = require('gocardless-nodejs/webhooks');
    const secret = 'gocardless_endpoint_secret';
    const body = JSON.stringify({ events: [{ id: 'EV123', created_at: '2024-01-01T00:00:00.000Z', action: 'confirmed', resource_type: 'payments', links: { payment: 'PM123' } }], meta: { webhook_id: 'WB123' } });
    const sig = hmacHex(secret, body);
    webhooks.parse(body, secret, sig);
    let refused = false;
    try { webhooks.parse(body, 'another', sig); } catch { refused = true; }
    if (!refused) throw new Error('gocardless accepted another secret');
    row({ name: 'gocardless: payments confirmed', provider: 'gocardless', keys: [secret], headers: [['Webhook-Signature', sig]], body, expect_id: 'WB123', source: `accepted by npm gocardless-nodejs@${pkgVersion('gocardless-nodejs')} webhooks.parse (tests/vectors/sdk/generate.cjs)` });
  }
  // Mux: webhooks.computeSignature, checked by webhooks.verifySignature.
  {
    const Mux = require('@mux/mux-node').default;
    const secret = 'mux_webhook_signing_secret';
    const mux = new Mux({ tokenId: 'x', tokenSecret: 'y', webhookSecret: secret });
    const body = JSON.stringify({ type: 'video.asset.ready', id: '3a56ac3d-33da-4366-855b-f592d898409d', data: { id: 'asset1' }, created_at: '2024-01-01T00:00:00.000000Z' });
    const sig = await mux.webhooks.computeSignature(`${now}.${body}`, secret);
    const header = `t=${now},v1=${sig}`;
    await mux.webhooks.verifySignature(body, { 'mux-signature': header }, secret);
    row({ name: 'mux: video.asset.ready', provider: 'mux', keys: [secret], headers: [['Mux-Signature', header]], body, expect_id: '3a56ac3d-33da-4366-855b-f592d898409d', expect_event_type: 'video.asset.ready', source: `computed by npm @mux/mux-node@${pkgVersion('@mux/mux-node')} webhooks.computeSignature, checked by verifySignature (tests/vectors/sdk/generate.cjs)` });
  }
  // WorkOS: webhooks.computeSignature(timestamp ms, payload object, secret); constructEvent.
  {
    const { WorkOS } = require('@workos-inc/node');
    const workos = new WorkOS('sk_test_for_vectors');
    const secret = 'workos_webhook_secret';
    const payload = { id: 'event_01HZ8Y3Y4Z5A6B7C8D9E0F1G2H', event: 'dsync.user.created', data: { id: 'directory_user_01E1X1', first_name: 'Zoë' }, created_at: '2024-01-01T00:00:00.000Z' };
    const ts = String(now * 1000);
    const sig = await workos.webhooks.computeSignature(ts, payload, secret);
    const header = `t=${ts}, v1=${sig}`;
    await workos.webhooks.constructEvent({ payload, sigHeader: header, secret });
    row({ name: 'workos: dsync.user.created', provider: 'workos', keys: [secret], headers: [['WorkOS-Signature', header]], body: JSON.stringify(payload), expect_id: payload.id, expect_event_type: 'dsync.user.created', source: `computed by npm @workos-inc/node@${pkgVersion('@workos-inc/node')} webhooks.computeSignature, checked by constructEvent (tests/vectors/sdk/generate.cjs)` });
  }
  // OpenAI: webhooks.verifySignature(payload, headers, secret), with a whsec_ and a plain secret.
  {
    const OpenAI = require('openai').default;
    const client = new OpenAI({ apiKey: 'sk-test' });
    const body = JSON.stringify({ id: 'evt_685343a1381c819085d44c354e1b330e', object: 'event', created_at: now, type: 'response.completed', data: { id: 'resp_abc' } });
    const id = 'wh_685342e6c53c8190a1be43f081506c52';
    for (const [label, secret, key] of [
      ['whsec_ secret', 'whsec_' + Buffer.from('openai-webhook-key-32-bytes-long').toString('base64'), Buffer.from('openai-webhook-key-32-bytes-long')],
      ['plain secret', 'openai_plain_secret', Buffer.from('openai_plain_secret')],
    ]) {
      const sig = 'v1,' + crypto.createHmac('sha256', key).update(`${id}.${now}.${body}`).digest('base64');
      const headers = { 'webhook-id': id, 'webhook-timestamp': String(now), 'webhook-signature': sig };
      await client.webhooks.verifySignature(body, headers, secret);
      row({ name: `openai: response.completed (${label})`, provider: 'openai', keys: [secret], headers: Object.entries(headers), body, expect_id: id, expect_event_type: 'response.completed', source: `accepted by npm openai@${pkgVersion('openai')} webhooks.verifySignature (tests/vectors/sdk/generate.cjs)` });
    }
  }
  // Replicate: validateWebhook({id, timestamp, signature, body, secret}).
  {
    const { validateWebhook } = require('replicate');
    const secret = 'whsec_' + Buffer.from('replicate-signing-key-24b').toString('base64');
    const body = JSON.stringify({ id: 'ufawqhfynnddngldkgtslldrkq', status: 'succeeded', output: ['https://replicate.delivery/out.png'] });
    const id = 'msg_2X1hWaCTq2HqnbHuv7aLxMZSZsl';
    const sig = 'v1,' + crypto.createHmac('sha256', Buffer.from('replicate-signing-key-24b')).update(`${id}.${now}.${body}`).digest('base64');
    const ok = await validateWebhook({ id, timestamp: String(now), signature: sig, body, secret }, crypto.webcrypto);
    if (!ok) throw new Error('replicate refused');
    row({ name: 'replicate: prediction succeeded', provider: 'replicate', keys: [secret], headers: [['webhook-id', id], ['webhook-timestamp', String(now)], ['webhook-signature', sig]], body, expect_id: id, expect_event_type: null, source: `accepted by npm replicate@${pkgVersion('replicate')} validateWebhook (tests/vectors/sdk/generate.cjs)` });
  }
  // Telnyx: Ed25519 over `{timestamp}|{body}`, checked by the SDK's TelnyxWebhook.verify.
  {
    const { TelnyxWebhook } = require('telnyx/lib/webhooks');
    const seed = Buffer.alloc(32, 0x4e);
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const sk = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    const pub = crypto.createPublicKey(sk).export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
    const body = JSON.stringify({ data: { event_type: 'call.initiated', id: '0ccc7b54-4df3-4bca-a65a-3da1ecc777f0', occurred_at: '2024-01-01T00:00:00.000000Z', payload: { call_control_id: 'v3:abc' }, record_type: 'event' }, meta: { attempt: 1 } });
    const sig = crypto.sign(null, Buffer.from(`${now}|${body}`), sk).toString('base64');
    const headers = { 'telnyx-signature-ed25519': sig, 'telnyx-timestamp': String(now) };
    await new TelnyxWebhook(pub).verify(body, headers);
    row({ name: 'telnyx: call.initiated (Ed25519)', provider: 'telnyx', keys: [pub], headers: Object.entries(headers), body, expect_id: '0ccc7b54-4df3-4bca-a65a-3da1ecc777f0', expect_event_type: 'call.initiated', source: `accepted by npm telnyx@${pkgVersion('telnyx')} TelnyxWebhook.verify (tests/vectors/sdk/generate.cjs; key: the Ed25519 seed of 32 bytes 0x4e)` });
  }
  const out = { about: ['Known-answer rows produced once by the providers\' own SDKs: see generate.cjs in vectors/sdk/ and each row\'s source. Same fields as known_answers.json.'], sdk: rows };
  fs.writeFileSync(path.join(__dirname, '..', 'sdk_vectors.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`${rows.length} rows`);
}
main().catch((e) => { console.error(e); process.exit(1); });
