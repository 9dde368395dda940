// Produces ../sdk_vectors.json. Section `sdk`: one known-answer row per provider, each
// signature either computed by the provider's SDK or computed here and then accepted by the
// SDK's own verify function (the row's `source` says which). Section `documented`: for the
// providers with no SDK that verifies, a signature computed here exactly as the provider's
// documentation (or server source) describes, cited in the row; these are self-generated,
// not published vectors. Run by hand, with the versions pinned in package.json and
// package-lock.json:   npm ci && node generate.cjs
// CI never runs this script; it reads the committed JSON.
//
// Reproducible: running it again writes the same bytes, so adding a provider shows only its
// new rows in the diff. Every input is fixed here: the instant NOW (every row's `now`, and the
// clock the SDKs read), the test keys below, and every id and body. The one exception is
// ECDSA (the ES256 and ES384 tokens): its nonce is random, so a fresh token differs on every
// run; keepEcdsaToken keeps the previous file's token when its row is otherwise unchanged and
// jsonwebtoken still verifies it (see there). Every row is checked as before, a kept token too.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const jwt = require('jsonwebtoken');

const pkgVersion = (name) => JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', name, 'package.json'), 'utf8')).version;
const hmacHex = (key, data) => crypto.createHmac('sha256', key).update(data).digest('hex');
const hmacB64 = (key, data) => crypto.createHmac('sha256', key).update(data).digest('base64');
// 2026-12-03T12:34:56Z, in unix seconds: the `now` of every row. Not a round number, so a
// seconds or milliseconds field that dropped digits would not go unnoticed.
const NOW = 1796301296;
const now = NOW;
// The SDKs' verify functions read the clock (Date.now) for their freshness windows (Mux,
// WorkOS, OpenAI, Telnyx, ElevenLabs, HubSpot, Box; jsonwebtoken for exp/nbf): it is frozen at
// NOW, so each SDK checks a row at the instant the row states, as the Rust tests do.
Date.now = () => NOW * 1000;
// Test-only keys for the FusionAuth rows: generated once with crypto.generateKeyPairSync
// (2026-12-04) and committed so that every run signs with the same keys. They protect nothing
// and must not be used anywhere else.
const TEST_ONLY_RSA_2048 = `-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDkuqJtWL2xxdmW
uu+zM6NoybK0P3CPeWqBfH+n4mzX23bqitPPJ1scA5i+4FSmm/L4cVU2SnXfTEgM
qTuvkc2pUzFu3UDDr90RdUVUaWgAH4gOKtUmtDL2lENxKMR82uauCQFSDRl2Ucl5
0ItNhfEn74xBbUkpHFEZy34l4LJ7fRme2erGmXtsIAOzJCs0WGN3mugdJJSwO5yP
f99sdCshC5OOv3CLW6mc/bhgk0LXbIr0weyqdW1jkn5GLqcfy1GOSM8LJNTOoLWC
SkYhWhbOq0tKkwVnjZ3XvgQAwx8riFuNL4I9uY/C+Ly/BrB7TSKNE3mWcQUeO62z
ivugWbdDAgMBAAECggEAW1yHG5k6MCOgrZneu9ww9d628FN0wQJU/gK+NM92/WOu
pLGuOAz20gJHxVpyxZf+HambSVPFsFtWXiRM8GyTUwKleKyMvX1mFp6agkSWI5J0
tH/8YvjQcHi5VZ5cmaiQQszbB6yu0nmJugwIUH9jW7nN8qZV9kNWy7BiI3wUnskQ
fqomJU4Jhqg6hE6NofhLD7QLg7Zku+K+VWLYKPJJJ6vSiYYw+WzQ3BuvQQCow+Y1
nVfzOQcpOILPvzWVZ93BdfPofJt1oewlX4OxvlRqzHwPwahEPHJEezo95T/1VoLl
cwGJhpDPTRZjxYtZJaJ4gNMF+2EfMrgCLatIRtGPbQKBgQD6zcnRRiOrRpmhut+m
ewBXbZ8nUhBaFKRrfBzxVyxhIG3QHujdvfErZYGbkf551he6j9BHinnsyIGzwdrQ
KwFsA6M1302t9MKz68RIo8/NnJgYywlXXqmoaKn5V6J1qr/PClVzWOhYkjnIJi92
ID4CztQGsgzkDeaonjX64gTzHQKBgQDpd8QP01a4nY9AOwVl4SvVh1lpv9GmwByo
n2Qvq7Af2KhrwaA5eK88BpKgQ7v39JqKfF6sv4jJpXS0YEwHmrHHCGG8HiUZ1zlb
hIdWVL5u6mm5EzxYbwL/zNOEGejrMkgs2Z/cV9gTvvr7lIWfOHLblnNKjtmLbk9e
TcnyBQXl3wKBgByBsXO47ir0jlfEntEUX/iP/CwC9trWR83zwHJp/yBXCEREjyFN
CpFtKyscj/kXLYFGAV1wTuVr8NoWqaFJkhLN4wonhHPGQy8iGCBNhjwPlXYT9c7Z
cp0ysEcn/84yBzUoLog6zcXrcOff9zsM9R9qlMziBfcR4Wq++NG4SOm9AoGBANci
xOmsXqJallGi0ZOTDdiDE7Ktztxw9TexQRnohLCj7nb1gtbSze9rQxwproGLxgjN
GFTpXnwqWkOI5SawtxdoMt+ti5SnTjR2CFxWVPFSUz/3aMk46rObJGH7mjV5LScf
Fv9tdzCi8RZ5QzR4SObuWakfv3mLmdmVpvy9AjVTAoGBAPYYxaHQDyN4+SPEg9ti
51a0Eiztq+PQys5V8whE7zF59LMb1eSw4IVyXhGLEGqEvq+wwUNkSTua7ozc0Swf
dMarbAHgzzvgoSIkjW2m3eygENy2o0aOxQlb0CAQ/mibh0bEYdFnCGPm7DkMvMcm
H4s1NLqrRUuYalKVheZEf1ij
-----END PRIVATE KEY-----
`;
const TEST_ONLY_EC_P256 = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwnQoiTGPUrMo47OA
ldDt0+28LwlQG4Zvx3/aVKICatChRANCAASix9YcD/4AqHnVe8/s2gtIHjP2nMyP
mou44dRl7AYzqMcfnX1yxBKoHKjysC2J+ySz9waPtIoIKxUtKwz8+1hu
-----END PRIVATE KEY-----
`;
const TEST_ONLY_EC_P384 = `-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAiZ3+LyXfC8F2tixMY
2R6PyBLTnFFJa4vdUTv9vu6D+1Z1ldixE4LYRfO9vs3isDehZANiAARyc+w52IDS
WUH1KOMWN+i0/tYgVM/d2pkpZ/amfDa2tztuggdlN9BB5ZXX4yYOu4ULRUBF0YY+
PdtoSsNW7G5oJX44djiKyv5XnC219R0E5GFwzh2RNaGdlz/79FM0jmw=
-----END PRIVATE KEY-----
`;
// Another P-256 key: an ES256 token must not verify against it.
const TEST_ONLY_EC_P256_OTHER = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/ZqVqwR8z5TXZtMl
4EIkmzB34jndIexqfp/K1b1XtsWhRANCAATfnsV88U8D4N0NetElOhSC8CCCBBGI
WKSbcExg+DJIdUfWmeM85Gmcl3W63nwY1eSvdCl4tH6XgTDtzd/dC7kP
-----END PRIVATE KEY-----
`;
const keyPair = (pem) => {
  const privateKey = crypto.createPrivateKey(pem);
  return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
};
const OUT = path.join(__dirname, '..', 'sdk_vectors.json');
// The file as it was before this run: only keepEcdsaToken reads it.
const previous = fs.existsSync(OUT) ? JSON.parse(fs.readFileSync(OUT, 'utf8')) : {};
const rows = [];
const row = (r) => rows.push({ expect: 'ok', now, ...r });

// ECDSA signs with a random nonce, so jwt.sign gives another ES256/ES384 token on every run
// and node cannot make it deterministic. The previous file's token for row `r` (built with a
// fresh token) is kept when: the previous row of that name is `r` but for the token, the kept
// token signs the same header and claims (its first two parts), and jsonwebtoken verifies it
// with this run's public key. Otherwise the fresh token is used, and the diff shows it.
function keepEcdsaToken(r, alg, publicKey) {
  const fresh = r.headers[0][1];
  const old = [...(previous.sdk || []), ...(previous.documented || [])].find((p) => p.name === r.name);
  const kept = old && Array.isArray(old.headers) && old.headers.length === 1 ? old.headers[0][1] : null;
  if (typeof kept !== 'string') return fresh;
  const signingInput = (token) => token.split('.').slice(0, 2).join('.');
  if (signingInput(kept) !== signingInput(fresh)) return fresh;
  if (JSON.stringify({ ...r, headers: [[r.headers[0][0], kept]] }) !== JSON.stringify(old)) return fresh;
  try {
    jwt.verify(kept, publicKey, { algorithms: [alg] });
  } catch {
    return fresh;
  }
  return kept;
}

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
  // ElevenLabs: webhooks.constructEvent(rawBody, sigHeader, secret).
  {
    const { ElevenLabsClient } = require('@elevenlabs/elevenlabs-js');
    const client = new ElevenLabsClient({ apiKey: 'webhook-only' });
    const secret = 'wsec_elevenlabs_for_tests';
    const body = JSON.stringify({ type: 'post_call_transcription', event_timestamp: now, data: { agent_id: 'agent_1', conversation_id: 'conv_1' } });
    const header = `t=${now},v0=${hmacHex(secret, `${now}.${body}`)}`;
    await client.webhooks.constructEvent(body, header, secret);
    row({ name: 'elevenlabs: post_call_transcription', provider: 'elevenlabs', keys: [secret], headers: [['ElevenLabs-Signature', header]], body, expect_event_type: 'post_call_transcription', source: `accepted by npm @elevenlabs/elevenlabs-js@${pkgVersion('@elevenlabs/elevenlabs-js')} webhooks.constructEvent (tests/vectors/sdk/generate.cjs)` });
  }
  // HubSpot v3: Signature.getSignature('POST', 'v3', ...), checked by Signature.isValid.
  {
    const { Signature } = require('@hubspot/api-client');
    const clientSecret = 'hubspot-client-secret-for-tests';
    const url = 'https://example.com/webhooks/hubspot?portal=62515';
    const body = JSON.stringify([{ eventId: 1, subscriptionId: 2, portalId: 62515, occurredAt: now * 1000, subscriptionType: 'contact.creation', attemptNumber: 0, objectId: 123, changeSource: 'CRM' }]);
    const timestamp = now * 1000;
    const options = { clientSecret, requestBody: body, url, timestamp };
    const signature = Signature.getSignature('POST', 'v3', options);
    if (!Signature.isValid({ ...options, signature, method: 'POST', signatureVersion: 'v3' })) throw new Error('hubspot refused');
    row({ name: 'hubspot v3: contact.creation', provider: 'hubspot', keys: [clientSecret], url, headers: [['X-HubSpot-Signature-v3', signature], ['X-HubSpot-Request-Timestamp', String(timestamp)]], body, source: `computed by npm @hubspot/api-client@${pkgVersion('@hubspot/api-client')} Signature.getSignature (v3), checked by Signature.isValid (tests/vectors/sdk/generate.cjs)` });
  }
  // Webflow: client.webhooks.verifySignature({ headers, body, secret }).
  {
    const { WebflowClient } = require('webflow-api');
    const client = new WebflowClient({ accessToken: 'x' });
    const secret = 'webflow-webhook-secret';
    const body = JSON.stringify({ triggerType: 'form_submission', payload: { name: 'Contact', siteId: '65427cf400e02b306eaa049c', data: { email: 'zoë@example.com' } } });
    const ts = String(now * 1000);
    const headers = { 'x-webflow-timestamp': ts, 'x-webflow-signature': hmacHex(secret, `${ts}:${body}`) };
    if (!(await client.webhooks.verifySignature({ headers, body, secret }))) throw new Error('webflow refused');
    row({ name: 'webflow: form_submission', provider: 'webflow', keys: [secret], headers: Object.entries(headers), body, expect_event_type: 'form_submission', source: `accepted by npm webflow-api@${pkgVersion('webflow-api')} webhooks.verifySignature (tests/vectors/sdk/generate.cjs)` });
  }
  // Notion: signWebhookPayload, checked by verifyWebhookSignature.
  {
    const { signWebhookPayload, verifyWebhookSignature } = require('@notionhq/client/build/src/webhooks');
    const verificationToken = 'secret_notion_verification_token';
    const body = JSON.stringify({ id: '367cba44-b6f3-4c92-81e7-6a2e9659efd4', timestamp: '2024-12-05T23:55:34.285Z', workspace_id: '13950b26-c203-4f3b-b97d-93ec06319565', type: 'page.created', entity: { id: '153104cd-477e-809d-8dc4-ff2d96ae3090', type: 'page' } });
    const signature = await signWebhookPayload({ body, verificationToken });
    if (!(await verifyWebhookSignature({ body, signature, verificationToken }))) throw new Error('notion refused');
    row({ name: 'notion: page.created', provider: 'notion', keys: [verificationToken], headers: [['X-Notion-Signature', signature]], body, expect_id: '367cba44-b6f3-4c92-81e7-6a2e9659efd4', expect_event_type: 'page.created', source: `computed by npm @notionhq/client@${pkgVersion('@notionhq/client')} signWebhookPayload, checked by verifyWebhookSignature (tests/vectors/sdk/generate.cjs)` });
  }
  // Box: WebhooksManager.validateMessage(body, headers, primaryKey, { secondaryKey }).
  {
    const { WebhooksManager } = require('box-node-sdk/lib/managers/webhooks');
    const primary = 'box-primary-signature-key';
    const secondary = 'box-secondary-signature-key';
    const d = new Date((now - 60) * 1000);
    const pad = (n) => String(n).padStart(2, '0');
    // Box writes the delivery time in Pacific time with its offset; -08:00 here.
    const local = new Date(d.getTime() - 8 * 3600 * 1000);
    const ts = `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}-08:00`;
    const body = JSON.stringify({ type: 'webhook_event', id: 'e2a3b1c4-0000-4a5b-9c8d-123456789abc', created_at: ts, trigger: 'FILE.UPLOADED', source: { id: '12345', type: 'file', name: 'Zoë.pdf' } });
    const sig = (key) => crypto.createHmac('sha256', key).update(body).update(ts).digest('base64');
    for (const [label, headers, keys] of [
      ['primary key', { 'box-signature-primary': sig(primary), 'box-signature-secondary': sig('another-key'), 'box-delivery-timestamp': ts }, [primary]],
      ['secondary key', { 'box-signature-primary': sig('another-key'), 'box-signature-secondary': sig(secondary), 'box-delivery-timestamp': ts }, [secondary]],
    ]) {
      const all = { ...headers, 'box-signature-version': '1', 'box-signature-algorithm': 'HmacSHA256', 'box-delivery-id': 'f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f' };
      const ok = await WebhooksManager.validateMessage(body, all, label === 'primary key' ? primary : 'not-this-one', { secondaryKey: label === 'primary key' ? 'not-this-one' : secondary });
      if (!ok) throw new Error(`box refused (${label})`);
      row({ name: `box: FILE.UPLOADED, verified by the ${label}`, provider: 'box', keys, headers: Object.entries(all), body, expect_id: 'e2a3b1c4-0000-4a5b-9c8d-123456789abc', expect_event_type: 'FILE.UPLOADED', source: `accepted by npm box-node-sdk@${pkgVersion('box-node-sdk')} WebhooksManager.validateMessage (tests/vectors/sdk/generate.cjs)` });
    }
  }
  // Contentful: signRequest, checked by verifyRequest. The toolkit signs every header it
  // is given; Contentful sends its topic among them.
  {
    const { signRequest, verifyRequest } = require('@contentful/node-apps-toolkit');
    const secret = 'contentful-signing-secret-'.padEnd(64, 'x');
    const path = '/webhooks/contentful?space=yadj1kx9rmg0&env=master';
    const body = JSON.stringify({ sys: { type: 'Entry', id: '5KsDBWseXY6QegucYAoacS', space: { sys: { id: 'yadj1kx9rmg0' } } }, fields: { title: { 'en-US': 'Zoë' } } });
    const headers = { 'X-Contentful-Topic': 'ContentManagement.Entry.publish', 'Content-Type': 'application/vnd.contentful.management.v1+json' };
    const signature = signRequest(secret, { method: 'POST', path, headers, body }, now * 1000);
    const all = { ...headers, ...signature };
    if (!verifyRequest(secret, { method: 'POST', path, headers: all, body }, 0)) throw new Error('contentful refused');
    row({ name: 'contentful: Entry.publish', provider: 'contentful', keys: [secret], url: `https://example.com${path}`, headers: Object.entries(all), body, expect_event_type: 'ContentManagement.Entry.publish', source: `computed by npm @contentful/node-apps-toolkit@${pkgVersion('@contentful/node-apps-toolkit')} signRequest, checked by verifyRequest (tests/vectors/sdk/generate.cjs)` });
    const odd = '/webhooks/contentful/ünïcode path?q=a b&x=1%2F2?dropped';
    const signature2 = signRequest(secret, { method: 'POST', path: odd, headers, body }, now * 1000);
    if (!verifyRequest(secret, { method: 'POST', path: odd, headers: { ...headers, ...signature2 }, body }, 0)) throw new Error('contentful refused (odd path)');
    row({ name: 'contentful: path and query encoded as the toolkit does', provider: 'contentful', keys: [secret], url: `https://example.com${odd}`, headers: Object.entries({ ...headers, ...signature2 }), body, source: `computed by npm @contentful/node-apps-toolkit@${pkgVersion('@contentful/node-apps-toolkit')} signRequest over a path with non-ASCII, spaces, an encoded slash and a second '?' (tests/vectors/sdk/generate.cjs)` });
  }

  // Sanity: encodeSignatureHeader(body, timestamp in ms, secret), checked by
  // isValidSignature (which compares the whole `t=…,v1=…` header with the one it encodes).
  {
    const { encodeSignatureHeader, isValidSignature, SIGNATURE_HEADER_NAME } = require('@sanity/webhook');
    const lib = `npm @sanity/webhook@${pkgVersion('@sanity/webhook')}`;
    const secret = 'sanity-webhook-secret-for-tests';
    const ts = now * 1000;
    // A body whose signature has both '-' and '_', so the URL-safe alphabet is exercised.
    let body;
    let header;
    for (let n = 0; ; n++) {
      body = JSON.stringify({ _id: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', _type: 'post', _rev: `rev${n}`, title: 'Zoë ✓', slug: { current: 'hello-world' } });
      header = await encodeSignatureHeader(body, ts, secret);
      if (/-/.test(header.split('v1=')[1]) && /_/.test(header.split('v1=')[1])) break;
    }
    if (!(await isValidSignature(body, header, secret))) throw new Error('sanity refused');
    if (await isValidSignature(body + ' ', header, secret)) throw new Error('sanity accepted a tampered body');
    if (await isValidSignature(body, header, 'another-secret')) throw new Error('sanity accepted another secret');
    row({ name: 'sanity: document published (URL-safe base64 with - and _)', provider: 'sanity', keys: [secret], headers: [[SIGNATURE_HEADER_NAME, header]], body, expect_id: null, source: `computed by ${lib} encodeSignatureHeader, checked by isValidSignature (tests/vectors/sdk/generate.cjs)` });
    const other = await encodeSignatureHeader(body, ts, 'another-secret');
    if (await isValidSignature(body, other, secret)) throw new Error('sanity accepted a signature made with another secret');
    row({ name: 'sanity: refused, signed with another secret', provider: 'sanity', keys: [secret], headers: [[SIGNATURE_HEADER_NAME, other]], body, expect: 'signature_mismatch', source: `computed by ${lib} encodeSignatureHeader with another secret, refused by isValidSignature (tests/vectors/sdk/generate.cjs)` });
  }

  // EasyPost: hex HMAC-SHA256 of the body with the NFKD-normalised secret, checked by the
  // client's Utils.validateWebhook (which compares the whole `hmac-sha256-hex=…` header).
  // The secret is not in NFKD form (é precomposed, the ligature ﬁ), so the normalisation
  // is exercised; the body carries a float weight as EasyPost sends it.
  {
    const EasyPostClient = require('@easypost/api');
    const lib = `npm @easypost/api@${pkgVersion('@easypost/api')}`;
    const client = new EasyPostClient('EZTK_vectors_not_a_key');
    const secret = 'sécret-ﬁle-ｅａｓｙｐｏｓｔ';
    const body = JSON.stringify({ id: 'evt_3b2f1c0d9e8a4f7b', object: 'Event', mode: 'test', description: 'tracker.updated', created_at: new Date(now * 1000).toISOString().replace('.000Z', 'Z'), result: { id: 'trk_5e6f7a8b9c0d', object: 'Tracker', tracking_code: 'EZ1000000001', status: 'in_transit', weight: 0 } }).replace('"weight":0', '"weight":136.0');
    const sigWith = (key) => `hmac-sha256-hex=${crypto.createHmac('sha256', Buffer.from(key, 'utf8')).update(body).digest('hex')}`;
    const header = sigWith(secret.normalize('NFKD'));
    client.Utils.validateWebhook(Buffer.from(body), { 'X-Hmac-Signature': header }, secret);
    row({ name: 'easypost: tracker.updated (secret normalised with NFKD)', provider: 'easypost', keys: [secret], headers: [['X-Hmac-Signature', header]], body, expect_id: 'evt_3b2f1c0d9e8a4f7b', expect_event_type: 'tracker.updated', source: `accepted by ${lib} Utils.validateWebhook (tests/vectors/sdk/generate.cjs)` });
    const raw = sigWith(secret);
    let refused = false;
    try { client.Utils.validateWebhook(Buffer.from(body), { 'X-Hmac-Signature': raw }, secret); } catch { refused = true; }
    if (!refused) throw new Error('easypost accepted a signature keyed with the secret not normalised');
    row({ name: 'easypost: refused, keyed with the secret not normalised', provider: 'easypost', keys: [secret], headers: [['X-Hmac-Signature', raw]], body, expect: 'signature_mismatch', source: `refused by ${lib} Utils.validateWebhook (tests/vectors/sdk/generate.cjs)` });
  }

  // Pusher Channels: Token.sign (hex HMAC-SHA256 of the raw body with the app secret),
  // checked by WebHook.isValid, which also wants X-Pusher-Key to be the app's key and the
  // content type application/json with a JSON body.
  {
    const Pusher = require('pusher');
    const Token = require('pusher/lib/token');
    const lib = `npm pusher@${pkgVersion('pusher')}`;
    const key = 'a1b2c3d4e5f6a7b8c9d0';
    const secret = 'pusher-app-secret-for-vectors';
    const pusher = new Pusher({ appId: '1234567', key, secret, cluster: 'eu' });
    const body = JSON.stringify({ time_ms: now * 1000, events: [{ name: 'channel_occupied', channel: 'presence-room-7' }, { name: 'client_event', channel: 'private-chat-zoë', event: 'client-typing', data: '{"text":"héllo ✓"}', socket_id: '123.456', user_id: 'zoë' }] });
    const webhook = (sig) => pusher.webhook({ headers: { 'x-pusher-key': key, 'x-pusher-signature': sig, 'content-type': 'application/json' }, rawBody: body });
    const sig = new Token(key, secret).sign(body);
    if (!webhook(sig).isValid()) throw new Error('pusher refused');
    if (pusher.webhook({ headers: { 'x-pusher-key': key, 'x-pusher-signature': sig, 'content-type': 'application/json' }, rawBody: body + ' ' }).isValid()) throw new Error('pusher accepted a tampered body');
    row({ name: 'pusher: channel_occupied and a client event', provider: 'pusher', keys: [secret], headers: [['X-Pusher-Key', key], ['X-Pusher-Signature', sig], ['Content-Type', 'application/json']], body, expect_id: null, source: `computed by ${lib} Token.sign, checked by WebHook.isValid (tests/vectors/sdk/generate.cjs)` });
    const other = new Token(key, 'another-app-secret').sign(body);
    if (webhook(other).isValid()) throw new Error('pusher accepted a signature made with another secret');
    row({ name: 'pusher: refused, signed with another secret', provider: 'pusher', keys: [secret], headers: [['X-Pusher-Key', key], ['X-Pusher-Signature', other], ['Content-Type', 'application/json']], body, expect: 'signature_mismatch', source: `computed by ${lib} Token.sign with another secret, refused by WebHook.isValid (tests/vectors/sdk/generate.cjs)` });
  }

  // Onfido: WebhookEventVerifier.readPayload(raw body, hex signature) returns the parsed
  // event or throws; the signature is hex HMAC-SHA256 of the raw body with the webhook token,
  // sent in X-SHA2-Signature (Onfido's manual-verification page names the header).
  {
    const { WebhookEventVerifier } = require('@onfido/api');
    const lib = `npm @onfido/api@${pkgVersion('@onfido/api')}`;
    const token = 'onfido-webhook-token-for-vectors';
    const verifier = new WebhookEventVerifier(token);
    const completed = new Date(now * 1000).toISOString().replace('.000Z', 'Z');
    const body = JSON.stringify({ payload: { resource_type: 'check', action: 'check.completed', object: { id: 'c5b0f8d2-6c2e-4d5a-9a0f-3b7e1d2c4a6f', status: 'complete', completed_at_iso8601: completed, href: 'https://api.eu.onfido.com/v3.6/checks/c5b0f8d2-6c2e-4d5a-9a0f-3b7e1d2c4a6f' } } });
    const sig = hmacHex(token, body);
    const event = verifier.readPayload(Buffer.from(body), sig);
    if (event.payload.action !== 'check.completed') throw new Error('onfido returned another event');
    let tampered = false;
    try { verifier.readPayload(Buffer.from(body + ' '), sig); } catch { tampered = true; }
    if (!tampered) throw new Error('onfido accepted a tampered body');
    row({ name: 'onfido: check.completed', provider: 'onfido', keys: [token], headers: [['X-SHA2-Signature', sig]], body, expect_id: null, expect_event_type: 'check.completed', source: `accepted by ${lib} WebhookEventVerifier.readPayload (tests/vectors/sdk/generate.cjs)` });
    const other = hmacHex('another-webhook-token', body);
    let refused = false;
    try { verifier.readPayload(Buffer.from(body), other); } catch { refused = true; }
    if (!refused) throw new Error('onfido accepted a signature made with another token');
    row({ name: 'onfido: refused, signed with another webhook token', provider: 'onfido', keys: [token], headers: [['X-SHA2-Signature', other]], body, expect: 'signature_mismatch', source: `refused by ${lib} WebhookEventVerifier.readPayload (tests/vectors/sdk/generate.cjs)` });
  }

  // Stream Chat: StreamChat.verifyWebhook(raw body, X-Signature) (hex HMAC-SHA256 of the
  // body with the API secret, compared as text) and verifyAndParseWebhook, which returns the
  // event. X-Webhook-Id is the delivery id Stream's webhook documentation gives.
  {
    const { StreamChat } = require('stream-chat');
    const lib = `npm stream-chat@${pkgVersion('stream-chat')}`;
    const apiKey = 'stream-api-key-for-vectors';
    const secret = 'stream-api-secret-for-vectors';
    const client = new StreamChat(apiKey, secret);
    const created = new Date(now * 1000).toISOString();
    const body = JSON.stringify({ type: 'message.new', cid: 'messaging:general', channel_id: 'general', channel_type: 'messaging', message: { id: 'zoe-6f1c2a3b-4d5e', text: 'héllo ✓', type: 'regular', user: { id: 'zoe' }, created_at: created }, user: { id: 'zoe', name: 'Zoë' }, watcher_count: 2, created_at: created });
    const sig = hmacHex(secret, body);
    if (!client.verifyWebhook(body, sig)) throw new Error('stream-chat refused');
    if (client.verifyAndParseWebhook(Buffer.from(body), sig).type !== 'message.new') throw new Error('stream-chat parsed another event');
    if (client.verifyWebhook(body + ' ', sig)) throw new Error('stream-chat accepted a tampered body');
    const headers = (s) => [['X-Webhook-Id', '123e4567-e89b-12d3-a456-426614174000'], ['X-Webhook-Attempt', '1'], ['X-Api-Key', apiKey], ['X-Signature', s]];
    row({ name: 'stream-chat: message.new', provider: 'stream-chat', keys: [secret], headers: headers(sig), body, expect_id: '123e4567-e89b-12d3-a456-426614174000', expect_event_type: 'message.new', source: `accepted by ${lib} StreamChat.verifyWebhook and verifyAndParseWebhook (tests/vectors/sdk/generate.cjs)` });
    const other = hmacHex('another-api-secret', body);
    if (client.verifyWebhook(body, other)) throw new Error('stream-chat accepted a signature made with another secret');
    row({ name: 'stream-chat: refused, signed with another secret', provider: 'stream-chat', keys: [secret], headers: headers(other), body, expect: 'signature_mismatch', source: `refused by ${lib} StreamChat.verifyWebhook (tests/vectors/sdk/generate.cjs)` });
  }

  // Documented algorithms (no SDK verifies these): self-generated, each step as the cited
  // page or source file writes it.
  const documented = [];
  const doc = (r) => documented.push({ expect: 'ok', now, ...r });
  const hmac = (alg, key, data, enc) => crypto.createHmac(alg, key).update(data).digest(enc);
  {
    const secret = 'sk_test_paystack_for_vectors';
    const body = JSON.stringify({ event: 'charge.success', data: { id: 302961, reference: 'qTPrJoy9Bx', amount: 10000, currency: 'NGN' } });
    doc({ name: 'paystack: charge.success', provider: 'paystack', keys: [secret], headers: [['x-paystack-signature', hmac('sha512', secret, body, 'hex')]], body, expect_event_type: 'charge.success', source: 'self-generated as PaystackOSS/doc-code-snippets src/doc/payments/webhooks/verifying-transaction/index.js computes it (createHmac sha512, hex) (NOT official)' });
  }
  {
    const secret = 'vercel-webhook-secret';
    const body = JSON.stringify({ id: 'uev_1234', type: 'deployment.created', createdAt: now * 1000, payload: { deployment: { id: 'dpl_1' } } });
    doc({ name: 'vercel: deployment.created', provider: 'vercel', keys: [secret], headers: [['x-vercel-signature', hmac('sha1', secret, body, 'hex')]], body, expect_id: 'uev_1234', expect_event_type: 'deployment.created', source: 'self-generated as https://vercel.com/docs/webhooks computes it (HMAC-SHA1, hex) (NOT official)' });
  }
  {
    const secret = 'sentry-client-secret';
    const body = JSON.stringify({ action: 'created', installation: { uuid: 'a8e5d37a' }, data: { issue: { id: '1170820242' } }, actor: { type: 'application' } });
    doc({ name: 'sentry: issue created', provider: 'sentry', keys: [secret], headers: [['Sentry-Hook-Signature', hmac('sha256', secret, body, 'hex')], ['Request-ID', '0c4a3c5f-1b2d-4e7f-9a6b-8c1d2e3f4a5b'], ['Sentry-Hook-Resource', 'issue'], ['Sentry-Hook-Timestamp', String(now)]], body, expect_id: '0c4a3c5f-1b2d-4e7f-9a6b-8c1d2e3f4a5b', expect_event_type: 'issue', source: 'self-generated as https://docs.sentry.io/integrations/integration-platform/webhooks/ computes it (HMAC-SHA256 of the body, hex) (NOT official)' });
  }
  {
    const secret = 'lemonsqueezy-signing-secret';
    const body = JSON.stringify({ meta: { event_name: 'order_created', custom_data: {} }, data: { type: 'orders', id: '1' } });
    doc({ name: 'lemonsqueezy: order_created', provider: 'lemonsqueezy', keys: [secret], headers: [['X-Signature', hmac('sha256', secret, body, 'hex')], ['X-Event-Name', 'order_created']], body, expect_event_type: 'order_created', source: 'self-generated as https://docs.lemonsqueezy.com/help/webhooks/signing-requests computes it (HMAC-SHA256, hex) (NOT official)' });
  }
  {
    const secret = 'whsec_alchemy_signing_key';
    const body = JSON.stringify({ webhookId: 'wh_octjglnywaupz6th', id: 'whevt_ogrc5v64myey69ux', createdAt: '2024-01-01T00:00:00.000Z', type: 'ADDRESS_ACTIVITY', event: { network: 'ETH_MAINNET', activity: [] } });
    doc({ name: 'alchemy: ADDRESS_ACTIVITY', provider: 'alchemy', keys: [secret], headers: [['X-Alchemy-Signature', hmac('sha256', secret, body, 'hex')]], body, expect_id: 'whevt_ogrc5v64myey69ux', expect_event_type: 'ADDRESS_ACTIVITY', source: 'self-generated as https://www.alchemy.com/docs/reference/notify-api-quickstart computes it (HMAC-SHA256 with the signing key, hex) (NOT official)' });
  }
  {
    const secret = 'woocommerce-webhook-secret';
    const body = JSON.stringify({ id: 727, status: 'processing', currency: 'USD', total: '29.35' });
    doc({ name: 'woocommerce: order.created', provider: 'woocommerce', keys: [secret], headers: [['X-WC-Webhook-Signature', hmac('sha256', secret, body, 'base64')], ['X-WC-Webhook-Topic', 'order.created'], ['X-WC-Webhook-Delivery-ID', '8f3e2b1a']], body, expect_id: '8f3e2b1a', expect_event_type: 'order.created', source: 'self-generated as woocommerce/woocommerce plugins/woocommerce/includes/class-wc-webhook.php generate_signature computes it (base64_encode(hash_hmac(sha256, payload, secret, true))) (NOT official)' });
    const ping = 'webhook_id=15';
    doc({ name: 'woocommerce: creation ping (form body)', provider: 'woocommerce', keys: [secret], headers: [['X-WC-Webhook-Signature', hmac('sha256', secret, ping, 'base64')]], body: ping, expect_id: null, source: 'self-generated as class-wc-webhook.php generate_signature computes it, over the ping body (NOT official)' });
  }
  {
    const secret = 'segment-shared-secret';
    const body = JSON.stringify({ type: 'track', event: 'Order Completed', messageId: 'ajs-next-1696000000000-abc', userId: 'u1' });
    doc({ name: 'segment: track', provider: 'segment', keys: [secret], headers: [['X-Signature', hmac('sha1', secret, body, 'hex')]], body, expect_id: 'ajs-next-1696000000000-abc', expect_event_type: 'track', source: 'self-generated as https://segment.com/docs/connections/destinations/catalog/webhooks/ computes it (HMAC-SHA1 of the body, hex) (NOT official)' });
  }
  {
    const secret = 'trello-application-secret';
    const url = 'https://example.com/webhooks/trello';
    const body = JSON.stringify({ model: { id: '4d5ea62fd76aa1136000000c' }, action: { id: '51f9424bcd6e040f3c002412', type: 'updateCard', data: { card: { name: 'Zoë' } } } });
    doc({ name: 'trello: updateCard', provider: 'trello', keys: [secret], url, headers: [['X-Trello-Webhook', hmac('sha1', secret, body + url, 'base64')]], body, expect_id: '51f9424bcd6e040f3c002412', expect_event_type: 'updateCard', source: 'self-generated as https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/ computes it (base64 HMAC-SHA1 of body + callbackURL) (NOT official)' });
  }
  {
    const secret = 'xero-webhook-key';
    const body = JSON.stringify({ events: [], firstEventSequence: 0, lastEventSequence: 0, entropy: 'S0m3r4Nd0mt3xt' });
    doc({ name: 'xero: intent to receive', provider: 'xero', keys: [secret], headers: [['x-xero-signature', hmac('sha256', secret, body, 'base64')]], body, source: 'self-generated as https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/ computes it (base64 HMAC-SHA256) (NOT official)' });
  }
  {
    const secret = 'dropbox-app-secret';
    const body = JSON.stringify({ list_folder: { accounts: ['dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc'] }, delta: { users: [12345678] } });
    doc({ name: 'dropbox: list_folder', provider: 'dropbox', keys: [secret], headers: [['X-Dropbox-Signature', hmac('sha256', secret, body, 'hex')]], body, source: 'self-generated as https://www.dropbox.com/developers/reference/webhooks computes it (HMAC-SHA256 with the app secret, hex) (NOT official)' });
  }
  {
    const secret = 'x-consumer-secret';
    const body = JSON.stringify({ for_user_id: '2244994945', tweet_create_events: [{ id_str: '1', text: 'héllo' }] });
    doc({ name: 'x: tweet_create_events', provider: 'x', keys: [secret], headers: [['x-twitter-webhooks-signature', 'sha256=' + hmac('sha256', secret, body, 'base64')]], body, source: 'self-generated as https://docs.x.com/x-api/webhooks/introduction computes it (sha256= + base64 HMAC-SHA256 with the consumer secret) (NOT official)' });
  }
  {
    const secret = 'calendly-webhook-signing-key';
    const body = JSON.stringify({ event: 'invitee.created', created_at: '2024-01-01T00:00:00.000000Z', payload: { email: 'a@example.com' } });
    doc({ name: 'calendly: invitee.created', provider: 'calendly', keys: [secret], headers: [['Calendly-Webhook-Signature', `t=${now},v1=${hmac('sha256', secret, `${now}.${body}`, 'hex')}`]], body, expect_event_type: 'invitee.created', source: 'self-generated as https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures computes it (t=,v1= hex HMAC-SHA256 of t.body) (NOT official)' });
  }
  {
    const secret = 'dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==';
    const ts = new Date(now * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const body = JSON.stringify({ ticket: { id: 35436, status: 'open' } });
    doc({ name: 'zendesk: ticket (the docs\' test signing secret)', provider: 'zendesk', keys: [secret], headers: [['X-Zendesk-Webhook-Signature', hmac('sha256', secret, ts + body, 'base64')], ['X-Zendesk-Webhook-Signature-Timestamp', ts]], body, source: 'self-generated as https://developer.zendesk.com/documentation/webhooks/verifying/ computes it (base64 HMAC-SHA256 of timestamp + body; the secret is the docs\' static test secret, used as text) (NOT official)' });
  }
  {
    const keys = ['docusign-hmac-key-one', 'docusign-hmac-key-two'];
    const body = JSON.stringify({ event: 'envelope-completed', apiVersion: 'v2.1', uri: '/restapi/v2.1/accounts/1/envelopes/2', retryCount: 0, configurationId: 10418, generatedDateTime: '2024-01-01T00:00:00.0000000Z', data: { envelopeId: 'a1b2c3' } });
    doc({ name: 'docusign: envelope-completed, the second key\'s header', provider: 'docusign', keys: [keys[1]], headers: [['X-DocuSign-Signature-1', hmac('sha256', keys[0], body, 'base64')], ['X-DocuSign-Signature-2', hmac('sha256', keys[1], body, 'base64')]], body, expect_event_type: 'envelope-completed', source: 'self-generated as https://developers.docusign.com/platform/webhooks/connect/hmac/ computes it (one X-DocuSign-Signature-N per key, base64 HMAC-SHA256 of the body) (NOT official)' });
  }
  {
    // Mailchimp's generateSignature: $signed_data = $url; ksort($params); foreach: .= $key . $value;
    // base64_encode(hash_hmac('sha1', $signed_data, $webhook_key, true)).
    const key = 'mandrill-webhook-key';
    const url = 'https://example.com/webhooks/mandrill';
    const events = JSON.stringify([{ event: 'send', _id: 'exampleaaaaaaaaaaaaaaaaaaaaaaaaa', ts: now, msg: { email: 'zoë@example.com' } }]);
    const params = { mandrill_events: events };
    let signed = url;
    for (const k of Object.keys(params).sort()) signed += k + params[k];
    const body = new URLSearchParams(params).toString();
    doc({ name: 'mandrill: send event (form body)', provider: 'mandrill', keys: [key], url, headers: [['X-Mandrill-Signature', hmac('sha1', key, signed, 'base64')]], body, source: 'self-generated as https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/ generateSignature computes it (URL + sorted name/value pairs, base64 HMAC-SHA1) (NOT official)' });
  }
  {
    const secret = 'front-app-secret';
    const ts = String(now * 1000);
    const body = JSON.stringify({ type: 'sync', authorization: { id: 'cmp_abc' } });
    // Front's steps: the timestamp and a colon as a buffer, then the raw body; HMAC-SHA256, base64.
    const sig = crypto.createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${ts}:`), Buffer.from(body)]).toString()).digest('base64');
    doc({ name: 'front: validation request (sync)', provider: 'front', keys: [secret], headers: [['x-front-signature', sig], ['x-front-request-timestamp', ts], ['x-front-challenge', 'c1a2b3']], body, expect_event_type: 'sync', source: 'self-generated as https://dev.frontapp.com/docs/application-webhooks (Verifying integrity, steps 1-6) computes it (NOT official)' });
  }
  {
    // Persona's sample: HMAC-SHA256 hex of `${t}.${body}`; during a rotation, one `t=…,v1=…`
    // set per secret, separated by a space.
    const [oldSecret, newSecret] = ['wbhsec_persona_old', 'wbhsec_persona_new'];
    const body = JSON.stringify({ data: { type: 'event', id: 'evt_Kzv9kQEv1mWjyCa4YrB3XNqu', attributes: { name: 'inquiry.completed', 'created-at': '2024-01-01T00:00:00.000Z', payload: { data: { type: 'inquiry', id: 'inq_1' } } } } });
    const v1 = (secret) => hmac('sha256', secret, `${now}.${body}`, 'hex');
    doc({ name: 'persona: inquiry.completed', provider: 'persona', keys: [newSecret], headers: [['Persona-Signature', `t=${now},v1=${v1(newSecret)}`]], body, expect_id: 'evt_Kzv9kQEv1mWjyCa4YrB3XNqu', expect_event_type: 'inquiry.completed', source: 'self-generated as https://docs.withpersona.com/docs/webhooks-best-practices (Checking signatures) computes it (NOT official)' });
    doc({ name: 'persona: during a rotation, two space-separated sets (the old key configured)', provider: 'persona', keys: [oldSecret], headers: [['Persona-Signature', `t=${now},v1=${v1(newSecret)} t=${now},v1=${v1(oldSecret)}`]], body, expect_id: 'evt_Kzv9kQEv1mWjyCa4YrB3XNqu', source: 'self-generated as https://docs.withpersona.com/docs/webhooks-best-practices describes a rotation (two space-separated t=,v1= sets) (NOT official)' });
  }
  {
    // Klaviyo: hex HMAC-SHA256 of the body followed by the Klaviyo-Timestamp header as sent
    // (an HTTP date); the body's meta.timestamp is when the request was sent.
    const secret = 'klaviyo-webhook-secret-key';
    const sent = new Date(now * 1000);
    const header = sent.toUTCString();
    const body = JSON.stringify({ data: [{ topic: 'event:klaviyo.received_email', external_id: '5ZcNtYQuGz2', payload: { data: { type: 'event', id: '5ZcNtYQuGz2', attributes: { timestamp: now, event_properties: { Subject: 'Zoë' } } } } }], meta: { klaviyo_webhook_id: '01JQ8T3S4R5E6W7Q8Y9U0I1O2P', klaviyo_account_id: 'AbC123', timestamp: sent.toISOString().replace('Z', '000+00:00'), version: '2024-10-15' } });
    doc({ name: 'klaviyo: received_email', provider: 'klaviyo', keys: [secret], headers: [['Klaviyo-Signature', hmac('sha256', secret, body + header, 'hex')], ['Klaviyo-Timestamp', header], ['Klaviyo-Webhook-Id', '01JQ8T3S4R5E6W7Q8Y9U0I1O2P']], body, expect_id: null, source: 'self-generated as https://developers.klaviyo.com/en/docs/working_with_system_webhooks computes it (hex HMAC-SHA256 of the body followed by the Klaviyo-Timestamp header) (NOT official)' });
  }
  {
    // Recurly: recurly-signature is the timestamp in unix milliseconds, then one hex
    // HMAC-SHA256 of `{timestamp}.{body}` per key (two while a key is rotated), as the
    // Ruby client's Recurly::Webhooks.verify_signature checks it. The npm client `recurly`
    // has no verifier.
    const cite = 'self-generated as recurly/recurly-client-ruby lib/recurly/webhooks.rb (gem recurly@4.48.0, Recurly::Webhooks.verify_signature) checks it (NOT official vectors)';
    const ts = String(now * 1000);
    const body = JSON.stringify({ id: 'rnf5bz1zk9sy', object_type: 'subscription', site_id: 'qy2qzvmx7l2x', event_type: 'created', event_time: new Date(now * 1000).toISOString(), account_code: 'zoë-1', uuid: '5d2b4f0e8c7a1b3e9f6d0a2c4e8b1f3a' });
    const oldSecret = 'recurly-webhook-secret-old';
    const newSecret = 'recurly-webhook-secret-new';
    const sig = (secret) => hmac('sha256', secret, `${ts}.${body}`, 'hex');
    doc({ name: 'recurly: subscription created', provider: 'recurly', keys: [newSecret], headers: [['recurly-signature', `${ts},${sig(newSecret)}`]], body, expect_id: null, source: cite });
    doc({ name: 'recurly: during a rotation, two signatures (the old key configured)', provider: 'recurly', keys: [oldSecret], headers: [['recurly-signature', `${ts},${sig(newSecret)},${sig(oldSecret)}`]], body, expect_id: null, source: cite });
  }
  {
    // FusionAuth: a JWT whose claim request_body_sha256 is the base64 SHA-256 of the body,
    // in X-FusionAuth-Signature-JWT, signed with the webhook's signing key: HMAC, RSA or EC
    // (Key Master). Signed here by npm jsonwebtoken, an implementation independent of the
    // crate's (FusionAuth itself signs with its Java library fusionauth-jwt, not run here).
    const lib = `npm jsonwebtoken@${pkgVersion('jsonwebtoken')}`;
    const body = JSON.stringify({ event: { id: 'c2f7e5a4-8d5a-4a9c-9b5e-0a1b2c3d4e5f', type: 'user.create', createInstant: now * 1000, user: { email: 'zoë@example.com' } } });
    const claims = { request_body_sha256: crypto.createHash('sha256').update(body).digest('base64') };
    const expect = { expect_id: 'c2f7e5a4-8d5a-4a9c-9b5e-0a1b2c3d4e5f', expect_event_type: 'user.create' };
    const cite = 'https://fusionauth.io/docs/extend/events-and-webhooks/signing';
    const header = (token) => [['X-FusionAuth-Signature-JWT', token]];
    const hmacKey = 'fusionauth-hmac-signing-key';
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      const token = jwt.sign(claims, hmacKey, { algorithm: alg, noTimestamp: true });
      jwt.verify(token, hmacKey, { algorithms: [alg] });
      doc({ name: `fusionauth: user.create (${alg})`, provider: 'fusionauth', keys: [hmacKey], headers: header(token), body, ...expect, source: `signed by ${lib} (${alg}) as ${cite} describes (NOT official)` });
    }
    const pem = (k) => k.export({ type: 'spki', format: 'pem' });
    const rsa = keyPair(TEST_ONLY_RSA_2048);
    const ec256 = keyPair(TEST_ONLY_EC_P256);
    const ec384 = keyPair(TEST_ONLY_EC_P384);
    const signed = {};
    for (const [alg, pair] of [['RS256', rsa], ['RS384', rsa], ['RS512', rsa], ['ES256', ec256], ['ES384', ec384]]) {
      const fresh = jwt.sign(claims, pair.privateKey, { algorithm: alg, noTimestamp: true });
      const r = { expect: 'ok', now, name: `fusionauth: user.create (${alg}, the public key in PEM)`, provider: 'fusionauth', keys: [pem(pair.publicKey)], headers: header(fresh), body, ...expect, source: `signed by ${lib} (${alg}, a test key committed in generate.cjs) as ${cite} describes (NOT official)` };
      const token = alg.startsWith('ES') ? keepEcdsaToken(r, alg, pair.publicKey) : fresh;
      jwt.verify(token, pair.publicKey, { algorithms: [alg] });
      signed[alg] = token;
      doc({ ...r, headers: header(token) });
    }
    // The RSA key in PKCS#1 form verifies too.
    doc({ name: 'fusionauth: RS256, the public key as PKCS#1 RSA PUBLIC KEY', provider: 'fusionauth', keys: [rsa.publicKey.export({ type: 'pkcs1', format: 'pem' })], headers: header(signed.RS256), body, ...expect, source: `signed by ${lib} (RS256) as ${cite} describes (NOT official)` });
    // Refusals. Algorithm confusion: an HS256 token keyed with the RSA public key's PEM text
    // must not verify against that public key.
    const b64url = (x) => Buffer.from(x).toString('base64url');
    const unsigned = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
    const confused = `${unsigned}.${crypto.createHmac('sha256', pem(rsa.publicKey)).update(unsigned).digest('base64url')}`;
    doc({ name: 'fusionauth: refused, HS256 keyed with the configured RSA public key (algorithm confusion)', provider: 'fusionauth', keys: [pem(rsa.publicKey)], headers: header(confused), body, expect: 'signature_mismatch', source: `a token ${lib} would refuse too, made with node crypto (NOT official)` });
    const none = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.`;
    doc({ name: 'fusionauth: refused, alg none', provider: 'fusionauth', keys: [pem(rsa.publicKey)], headers: header(none), body, expect: 'malformed_header', source: 'an unsigned token made with node (NOT official)' });
    doc({ name: 'fusionauth: refused, an RS256 token against an EC key', provider: 'fusionauth', keys: [pem(ec256.publicKey)], headers: header(signed.RS256), body, expect: 'signature_mismatch', source: `signed by ${lib} (RS256) (NOT official)` });
    const other256 = keyPair(TEST_ONLY_EC_P256_OTHER).publicKey;
    let refused = false;
    try { jwt.verify(signed.ES256, other256, { algorithms: ['ES256'] }); } catch { refused = true; }
    if (!refused) throw new Error('jsonwebtoken accepted an ES256 token against another P-256 key');
    doc({ name: 'fusionauth: refused, an ES256 token against another P-256 key', provider: 'fusionauth', keys: [pem(other256)], headers: header(signed.ES256), body, expect: 'signature_mismatch', source: `signed by ${lib} (ES256) (NOT official)` });
    doc({ name: 'fusionauth: refused, RS256 over another body', provider: 'fusionauth', keys: [pem(rsa.publicKey)], headers: header(signed.RS256), body: body.replace('user.create', 'user.delete'), expect: 'signature_mismatch', source: `signed by ${lib} (RS256) (NOT official)` });
  }
  {
    // Gitea / Forgejo: hex HMAC-SHA256 of the payload (the JSON body as sent, content type
    // application/json) with the webhook's secret, as addDefaultHeaders writes it. Gitea
    // sends X-Gitea-*; Forgejo sends the same values as X-Forgejo-* and X-Gitea-*.
    const secret = 'gitea-webhook-secret';
    const uuid = '4e6a9f0c-2b7d-4c1e-9a3f-5d8b7c6e1f20';
    const body = JSON.stringify({ ref: 'refs/heads/main', before: '0000000000000000000000000000000000000000', after: 'b2f0c8a1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8', commits: [{ id: 'b2f0c8a1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8', message: 'Zoë: fix ✓\n' }], repository: { full_name: 'octo/hello' } }, null, 2);
    const sig = hmac('sha256', secret, body, 'hex');
    const gitea = [['X-Gitea-Delivery', uuid], ['X-Gitea-Event', 'push'], ['X-Gitea-Event-Type', 'push'], ['X-Gitea-Signature', sig], ['X-Gogs-Signature', sig], ['X-Hub-Signature-256', `sha256=${sig}`]];
    const forgejo = [['X-Forgejo-Delivery', uuid], ['X-Forgejo-Event', 'push'], ['X-Forgejo-Event-Type', 'push'], ['X-Forgejo-Signature', sig]];
    const cite = '(hex HMAC-SHA256 of the JSON payload with the webhook secret, addDefaultHeaders)';
    doc({ name: 'gitea: push (Gitea headers)', provider: 'gitea', keys: [secret], headers: gitea, body, expect_id: uuid, expect_event_type: 'push', source: `self-generated as go-gitea/gitea services/webhook/deliver.go computes it ${cite} (NOT official)` });
    doc({ name: 'gitea: push from Forgejo (X-Forgejo-* and X-Gitea-*)', provider: 'gitea', keys: [secret], headers: [...forgejo, ...gitea], body, expect_id: uuid, expect_event_type: 'push', source: `self-generated as Forgejo services/webhook/shared/payloader.go computes it ${cite} (NOT official)` });
    doc({ name: 'gitea: push, the X-Forgejo-* headers alone', provider: 'gitea', keys: [secret], headers: forgejo, body, expect_id: uuid, expect_event_type: 'push', source: `self-generated as Forgejo services/webhook/shared/payloader.go computes it ${cite} (NOT official)` });
  }
  {
    // Customer.io reporting webhooks: hex HMAC-SHA256 of `v0:{X-CIO-Timestamp}:{body}` with
    // the webhook signing key, the timestamp in unix seconds.
    const secret = 'customerio-webhook-signing-key';
    const ts = String(now);
    const body = JSON.stringify({ data: { action_id: 42, campaign_id: 23, customer_id: 'user-123', delivery_id: 'RAECAAFwnUSneIa0ZXkmq8EdkAM==', identifiers: { id: 'user-123' }, recipient: 'zoë@example.com', subject: 'Thanks for signing up ✓' }, event_id: '01E2EMRMM6TZ12TF9WGZN0WJQT', metric: 'sent', object_type: 'email', timestamp: now });
    doc({ name: 'customerio: email sent', provider: 'customerio', keys: [secret], headers: [['X-CIO-Signature', hmac('sha256', secret, `v0:${ts}:${body}`, 'hex')], ['X-CIO-Timestamp', ts]], body, expect_id: '01E2EMRMM6TZ12TF9WGZN0WJQT', expect_event_type: 'sent', source: 'self-generated as https://docs.customer.io/api/webhooks/ (Securely Verifying Requests) computes it (hex HMAC-SHA256 of v0:{X-CIO-Timestamp}:{body} with the signing key) (NOT official)' });
  }
  {
    // Cal.com: hex HMAC-SHA256 of the body as sent with the webhook secret
    // (createWebhookSignature); the default body is {triggerEvent, createdAt, payload}, and a
    // payload template that is not JSON is sent as application/x-www-form-urlencoded.
    const secret = 'calcom-webhook-secret';
    const createdAt = new Date(now * 1000).toISOString();
    const body = JSON.stringify({ triggerEvent: 'BOOKING_CREATED', createdAt, payload: { type: '30min', title: '30 Min Meeting between Zoë and Ana', startTime: '2026-12-10T10:00:00Z', endTime: '2026-12-10T10:30:00Z', organizer: { name: 'Ana', email: 'ana@example.com', timeZone: 'Europe/Madrid' }, attendees: [{ name: 'Zoë', email: 'zoe@example.com', timeZone: 'Europe/Paris' }], uid: 'bFJeNb2uX8ANpT3JL5EfXw', bookingId: 91, status: 'ACCEPTED' } });
    const cite = 'calcom/cal.com packages/features/webhooks/lib/sendPayload.ts computes it (createWebhookSignature: hex HMAC-SHA256 of the body with the secret)';
    doc({ name: 'calcom: BOOKING_CREATED', provider: 'calcom', keys: [secret], headers: [['X-Cal-Signature-256', hmac('sha256', secret, body, 'hex')], ['X-Cal-Webhook-Version', '2021-10-20']], body, expect_id: null, expect_event_type: 'BOOKING_CREATED', source: `self-generated as ${cite} (NOT official)` });
    const form = 'event=BOOKING_CREATED&title=30%20Min%20Meeting&attendee=zo%C3%AB%40example.com';
    doc({ name: 'calcom: a custom payload template sent as a form', provider: 'calcom', keys: [secret], headers: [['X-Cal-Signature-256', hmac('sha256', secret, form, 'hex')]], body: form, expect_id: null, source: `self-generated as ${cite} (NOT official)` });
  }
  {
    // Frame.io: hex HMAC-SHA256 of `v0:{X-Frameio-Request-Timestamp}:{body}` with the
    // webhook's signing secret, sent as `v0=<hex>`, the timestamp in unix seconds.
    const secret = 'frameio-webhook-signing-secret';
    const ts = String(now);
    const body = JSON.stringify({ account: { id: '6f70f1bd-7e89-4a7e-b4d3-7e576585a181' }, project: { id: '7e46e495-4444-4555-8649-bee4d391a997' }, resource: { id: 'd3075547-4e64-45f0-ad12-d075660eddd2', type: 'file' }, type: 'file.ready', user: { id: '56556a3f-859f-4b38-b6c6-e8625b5da8a5' }, workspace: { id: '378fcbf7-6f88-4224-8139-6a743ed940b2' } });
    const cite = 'AdobeDocs/frameio-api src/pages/guides/Webhooks/index.md (Verifying Webhook Signatures) computes it (v0= and hex HMAC-SHA256 of v0:{timestamp}:{body} with the signing secret)';
    const headers = (sig) => [['X-Frameio-Request-Timestamp', ts], ['X-Frameio-Signature', sig], ['User-Agent', 'Frame.io V4 API']];
    doc({ name: 'frameio: file.ready', provider: 'frameio', keys: [secret], headers: headers(`v0=${hmac('sha256', secret, `v0:${ts}:${body}`, 'hex')}`), body, expect_id: null, expect_event_type: 'file.ready', source: `self-generated as ${cite} (NOT official)` });
    doc({ name: 'frameio: refused, the secret over {ts}.{body}', provider: 'frameio', keys: [secret], headers: headers(`v0=${hmac('sha256', secret, `${ts}.${body}`, 'hex')}`), body, expect: 'signature_mismatch', source: 'self-generated, the signing secret over {ts}.{body}, which AdobeDocs/frameio-api src/pages/guides/Webhooks/index.md (Verifying Webhook Signatures) does not sign (NOT official)' });
  }
  {
    // Airtable: `hmac-sha256=` and the hex HMAC-SHA256 of the body, keyed with the bytes of
    // the webhook's macSecretBase64 decoded, as the webhooks overview computes it.
    const macSecretBase64 = Buffer.from('airtable-mac-secret-for-vectors!').toString('base64');
    const body = JSON.stringify({ base: { id: 'appA1b2C3d4E5f6G7' }, webhook: { id: 'achH8i9J0k1L2m3N4' }, timestamp: new Date(now * 1000).toISOString() });
    const cite = 'https://airtable.com/developers/web/api/webhooks-overview (Webhook notification delivery) computes it (hmac-sha256= and hex HMAC-SHA256 of the body keyed with macSecretBase64 decoded)';
    const mac = (key) => `hmac-sha256=${hmac('sha256', key, body, 'hex')}`;
    doc({ name: 'airtable: notification ping', provider: 'airtable', keys: [macSecretBase64], headers: [['X-Airtable-Content-MAC', mac(Buffer.from(macSecretBase64, 'base64'))]], body, expect_id: null, source: `self-generated as ${cite} (NOT official)` });
    doc({ name: 'airtable: refused, keyed with the base64 text instead of its bytes', provider: 'airtable', keys: [macSecretBase64], headers: [['X-Airtable-Content-MAC', mac(macSecretBase64)]], body, expect: 'signature_mismatch', source: 'self-generated, keyed with the base64 text instead of the decoded key https://airtable.com/developers/web/api/webhooks-overview (Webhook notification delivery) uses (NOT official)' });
  }
  {
    // Help Scout: base64 HMAC-SHA1 of the body with the webhook's secret key in
    // X-HelpScout-Signature, the event in X-HelpScout-Event, as the official PHP SDK's
    // IncomingWebhook computes and checks it (PHP is not run here).
    const secret = 'helpscout-webhook-secret-key';
    const body = JSON.stringify({ id: 2391938111, number: 349, type: 'email', status: 'active', state: 'published', subject: 'Zoë asks about the ✓ plan', mailboxId: 85, primaryCustomer: { id: 238123, email: 'zoe@example.com' }, createdAt: new Date(now * 1000).toISOString() });
    const cite = 'helpscout/helpscout-api-php src/Webhooks/IncomingWebhook.php (generateSignature: base64_encode(hash_hmac(sha1, body, secret, true)); the event from X-HelpScout-Event), commit 0d75ed7';
    const headers = (sig) => [['X-HelpScout-Event', 'convo.created'], ['X-HelpScout-Signature', sig], ['Content-Type', 'application/json']];
    doc({ name: 'helpscout: convo.created', provider: 'helpscout', keys: [secret], headers: headers(hmac('sha1', secret, body, 'base64')), body, expect_id: null, expect_event_type: 'convo.created', source: `self-generated as ${cite} computes it (NOT official)` });
    doc({ name: 'helpscout: refused, the hex digest instead of base64', provider: 'helpscout', keys: [secret], headers: headers(hmac('sha1', secret, body, 'hex')), body, expect: 'signature_mismatch', source: `self-generated, the hex digest that ${cite} does not send (NOT official)` });
  }
  {
    // Webex (the Webhooks API): hex HMAC-SHA1 of the body with the webhook's secret in
    // X-Spark-Signature, as the Webex framework's lib/webhook.js computes it over
    // JSON.stringify of the parsed body (the body below is compact JSON: the same bytes).
    const secret = 'webex-webhook-secret-for-vectors';
    const body = JSON.stringify({ id: 'Y2lzY29zcGFyazovL3VzL1dFQkhPT0svZjRlNjA1NjA', name: 'New message in Zoë\'s ✓ room', targetUrl: 'https://example.com/hooks/webex', resource: 'messages', event: 'created', orgId: 'OTZhYmMyYWEtM2RjYy0xMWU1', createdBy: 'Y2lzY29zcGFyazovL3VzL1BFT1BMRS9m', appId: 'Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL0My', ownedBy: 'creator', status: 'active', created: new Date(now * 1000).toISOString(), actorId: 'Y2lzY29zcGFyazovL3VzL1BFT1BMRS9m', data: { id: 'Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTAt', roomId: 'Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQt', roomType: 'group', personId: 'Y2lzY29zcGFyazovL3VzL1BFT1BMRS9m', personEmail: 'zoe@example.com', created: new Date(now * 1000).toISOString() } });
    if (JSON.stringify(JSON.parse(body)) !== body) throw new Error('webex: the body is not what the framework re-serialises');
    const cite = 'npm webex-node-bot-framework@2.3.14 lib/webhook.js (Webhook: hex HMAC-SHA1 of the body with the webhook secret, compared with X-Spark-Signature)';
    doc({ name: 'webex: messages created', provider: 'webex', keys: [secret], headers: [['X-Spark-Signature', hmac('sha1', secret, body, 'hex')], ['Content-Type', 'application/json']], body, expect_id: null, expect_event_type: null, source: `self-generated as ${cite} computes it (NOT official)` });
    doc({ name: 'webex: refused, HMAC-SHA256 instead of SHA-1', provider: 'webex', keys: [secret], headers: [['X-Spark-Signature', hmac('sha256', secret, body, 'hex')], ['Content-Type', 'application/json']], body, expect: 'signature_mismatch', source: `self-generated, HMAC-SHA256, which ${cite} does not compute (NOT official)` });
  }
  const out = { about: ['Known-answer rows produced by generate.cjs (in vectors/sdk/; reproducible: a fixed now, committed test keys, ECDSA tokens kept while their rows are unchanged): `sdk` rows come from the providers\' own SDKs, `documented` rows are self-generated exactly as the cited documentation or source describes. Same fields as known_answers.json.'], sdk: rows, documented };
  fs.writeFileSync(OUT, JSON.stringify(out, null, 2) + '\n');
  console.log(`${rows.length} rows`);
}
main().catch((e) => { console.error(e); process.exit(1); });
