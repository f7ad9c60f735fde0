//! The openid-client 6 relying party of the browser suite: a tiny web app on a loopback port that
//! the browser really visits.
//!
//!   GET /login?ui_locales=…&prompt=…&login_hint=…&acr_values=…&max_age=…
//!       builds the authorization URL with openid-client (PKCE S256, state, nonce; the listed
//!       parameters passed on when given), keeps the verifier, state and nonce in memory under
//!       a random `rp_tx` cookie and answers 302 to Gatehouse
//!   GET /callback
//!       `authorizationCodeGrant` with `execute: [allowInsecureRequests,
//!       enableNonRepudiationChecks]` (so the ID token's signature is verified against the
//!       JWKS, as are iss, aud, exp, nonce, state and PKCE), then a page showing the validated
//!       claims: <h1 id="result">Signed in</h1> and <pre id="claims">{…JSON…}</pre>; on any error
//!       a 400 page <h1 id="result">Sign-in failed</h1> with <pre id="error">{…}</pre>
//!   GET /claims.json   the claims of this browser's session (404 without one)
//!   GET /logout        RP-initiated logout: `buildEndSessionUrl` with id_token_hint, the
//!                      registered post_logout_redirect_uri (this app's "/") and a state
//!   GET /frontchannel-logout?iss=…&sid=…
//!                      the front-channel logout URI (OIDC Front-Channel Logout 1.0), registered
//!                      with session required: records the call (iss, sid, the time, and the
//!                      request's Sec-Fetch-Dest, "iframe" when Gatehouse's page framed it) and
//!                      answers 200 with a tiny page
//!   GET /frontchannel-calls  {"calls": [{iss, sid, dest, at}, …]}, every call so far (a test hook)
//!   GET /              the home page; back from logout it says "Signed out" when the state
//!                      matches (<h1 id="result">Signed out</h1>)
//!
//! Usage: node openid-client-rp.mjs CONFIG.json   (the "rp" part of the suite's config: issuer,
//! client_id, client_secret, port, redirect_uri, post_logout_redirect_uri). Prints
//! {"ready":true,"port":N} when it listens and discovery worked. Exits on SIGTERM / SIGINT.
//! The pages are plain HTML without scripts; the suite screenshots them but does not audit
//! them (they are the test's, not Gatehouse's).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import * as client from 'openid-client';

const CFG = JSON.parse(readFileSync(process.argv[2], 'utf8')).rp;
const ORIGIN = `http://127.0.0.1:${CFG.port}`;
const PASSED_ON = ['ui_locales', 'prompt', 'login_hint', 'acr_values', 'max_age'];

const transactions = new Map(); // rp_tx cookie -> {codeVerifier, state, nonce}
const sessions = new Map(); // rp_session cookie -> {claims, idToken}
const logouts = new Map(); // logout state -> true
const frontchannelCalls = []; // {iss, sid, dest, at}

let config;
async function discover() {
  config = await client.discovery(new URL(CFG.issuer), CFG.client_id, {}, client.ClientSecretBasic(CFG.client_secret), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function page(res, status, title, body, extraHeaders = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...extraHeaders });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)} · openid-client RP</title></head>` +
    `<body><main><p>openid-client 6 test app</p>${body}</main></body></html>`);
}
function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
function describe(err) {
  const out = { name: err?.name, code: err?.code, message: err?.message };
  for (const k of ['error', 'error_description', 'status']) if (err?.[k]) out[k] = err[k];
  if (err?.cause && !(err.cause instanceof Error)) out.cause = err.cause;
  return out;
}

async function handle(req, res) {
  const url = new URL(req.url, ORIGIN);
  const jar = cookies(req);
  if (req.method !== 'GET') return page(res, 405, 'Method not allowed', '<h1>GET only</h1>');
  switch (url.pathname) {
    case '/login': {
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const params = {
        redirect_uri: CFG.redirect_uri,
        scope: url.searchParams.get('scope') ?? 'openid profile email',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      };
      for (const name of PASSED_ON) if (url.searchParams.has(name)) params[name] = url.searchParams.get(name);
      const tx = randomBytes(16).toString('base64url');
      transactions.set(tx, { codeVerifier, state, nonce });
      const location = client.buildAuthorizationUrl(config, params).href;
      res.writeHead(302, { location, 'set-cookie': `rp_tx=${tx}; Path=/; HttpOnly; SameSite=Lax`, 'cache-control': 'no-store' });
      return res.end();
    }
    case '/callback': {
      const tx = transactions.get(jar.rp_tx ?? '');
      if (!tx) return page(res, 400, 'Sign-in failed', `<h1 id="result">Sign-in failed</h1><pre id="error">${escape(JSON.stringify({ error: 'no_transaction', message: 'no rp_tx cookie for a pending sign-in' }))}</pre>`);
      transactions.delete(jar.rp_tx);
      try {
        const tokens = await client.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: tx.codeVerifier,
          expectedState: tx.state,
          expectedNonce: tx.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        const sid = randomBytes(16).toString('base64url');
        sessions.set(sid, { claims, idToken: tokens.id_token });
        const shown = { ...claims, _verified_by: 'openid-client authorizationCodeGrant with enableNonRepudiationChecks' };
        return page(res, 200, 'Signed in',
          `<h1 id="result">Signed in</h1><p>as ${escape(claims.email ?? claims.sub)}</p><pre id="claims">${escape(JSON.stringify(shown, null, 2))}</pre>`,
          { 'set-cookie': [`rp_session=${sid}; Path=/; HttpOnly; SameSite=Lax`, 'rp_tx=; Path=/; Max-Age=0'] });
      } catch (err) {
        return page(res, 400, 'Sign-in failed', `<h1 id="result">Sign-in failed</h1><pre id="error">${escape(JSON.stringify(describe(err), null, 2))}</pre>`);
      }
    }
    case '/claims.json': {
      const session = sessions.get(jar.rp_session ?? '');
      return session ? json(res, 200, session.claims) : json(res, 404, { error: 'no session' });
    }
    case '/logout': {
      const session = sessions.get(jar.rp_session ?? '');
      const state = client.randomState();
      logouts.set(state, true);
      const params = { post_logout_redirect_uri: CFG.post_logout_redirect_uri, state };
      if (session) params.id_token_hint = session.idToken;
      sessions.delete(jar.rp_session ?? '');
      const location = client.buildEndSessionUrl(config, params).href;
      res.writeHead(302, { location, 'set-cookie': 'rp_session=; Path=/; Max-Age=0', 'cache-control': 'no-store' });
      return res.end();
    }
    case '/frontchannel-logout': {
      frontchannelCalls.push({
        iss: url.searchParams.get('iss'),
        sid: url.searchParams.get('sid'),
        dest: req.headers['sec-fetch-dest'] ?? null,
        at: new Date().toISOString(),
      });
      return page(res, 200, 'Front-channel logout', '<h1 id="result">Front-channel logout received</h1>');
    }
    case '/frontchannel-calls':
      return json(res, 200, { calls: frontchannelCalls });
    case '/': {
      const state = url.searchParams.get('state');
      if (state !== null) {
        const known = logouts.delete(state);
        return page(res, known ? 200 : 400, known ? 'Signed out' : 'Unknown logout state',
          known ? '<h1 id="result">Signed out</h1>' : '<h1 id="result">Unknown logout state</h1>');
      }
      const session = sessions.get(jar.rp_session ?? '');
      return page(res, 200, 'Home', session ? `<h1 id="result">Home</h1><p>Signed in as ${escape(session.claims.email ?? session.claims.sub)}</p>` : '<h1 id="result">Home</h1><p>Not signed in. <a href="/login">Sign in</a></p>');
    }
    default:
      return page(res, 404, 'Not found', '<h1>Not found</h1>');
  }
}

await discover();
const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) page(res, 500, 'Error', `<h1 id="result">RP error</h1><pre id="error">${escape(JSON.stringify(describe(err)))}</pre>`);
    else res.end();
  });
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(CFG.port, '127.0.0.1', resolve);
});
console.log(JSON.stringify({ ready: true, port: server.address().port }));
function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
