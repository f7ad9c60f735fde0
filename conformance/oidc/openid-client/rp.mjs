// Gatehouse OIDC conformance: openid-client 6 (an OpenID-certified relying-party library) signs in.
//
// All protocol work goes through openid-client's functional API. The only hand-written HTTP is the
// "browser": it follows Gatehouse's redirects and fills in the login forms (manual redirects, a
// small cookie jar, and the Fetch Metadata and Origin Chromium would send, derived from each
// page: ../../lib/browser.mjs), exactly what a person's browser would do. The check helpers are
// ../../lib/checks.mjs.
//
// Usage: node rp.mjs CONFIG.json   (CONFIG is written by ../run.sh; its shape is documented there)
// Exits non-zero on the first failed check, printing what was expected and what came back.

import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import * as jose from 'jose';
import { CookieJar, headlessBrowser, parseForms, sameEndpoint } from '../../lib/browser.mjs';
import { CheckFailed, check, checkEqual, describe, fail, ok, readConfig, tally } from '../../lib/checks.mjs';

const CFG = readConfig('rp.mjs');
const ISSUER = CFG.issuer;
const PUBLIC_ORIGIN = new URL(CFG.public_url).origin;

// ------------------------------------------------------------------------------------ reporting
// ok, fail, check, checkEqual and the tally come from ../../lib/checks.mjs; this suite stops at
// its first failed check.
function step(name) {
  tally.step = name;
  console.log(`\n== ${name}`);
}
/** Awaits a promise that must reject with the OAuth error code `code`. */
async function expectOAuthError(promise, code, message) {
  let value;
  try {
    value = await promise;
  } catch (err) {
    const got = err?.error ?? err?.cause?.error;
    if (got !== code) fail(`${message}: expected error ${code}, got ${got ?? err?.code ?? err}`, describe(err));
    ok(`${message} (${code})`);
    return err;
  }
  fail(`${message}: expected error ${code}, but the call succeeded`, value);
}

// ------------------------------------------------------------------------ the headless browser
// The cookie jar, requests and form reading are ../../lib/browser.mjs; the sign-in is driven here.
const { browse } = headlessBrowser(PUBLIC_ORIGIN);

/**
 * Drives the browser from an authorization URL until Gatehouse answers the client: either a
 * redirect to `redirectUri` ({kind: 'redirect', url}) or a form_post page ({kind: 'form_post',
 * action, fields}). Fills in the e-mail and password steps as they come; never fetches the
 * client's redirect URI.
 */
async function runBrowser(jar, startUrl, { redirectUri, email, password, maxSteps = 12 }) {
  let request = { url: startUrl.href ?? String(startUrl), method: 'GET' };
  const trail = [];
  for (let i = 0; i < maxSteps; i += 1) {
    const res = await browse(jar, request.url, request);
    const location = res.headers.get('location'); // as sent: the trail shows it so
    trail.push(`${request.method} ${request.url} -> ${res.status}${location ? ` ${location}` : ''}`);
    if (res.status >= 300 && res.status < 400) {
      if (!location) fail(`redirect ${res.status} without Location`, trail);
      if (request.method === 'POST' && res.status !== 303) {
        fail(`a POST that redirects must answer 303 (SECURITY A.11), got ${res.status}`, trail);
      }
      const next = new URL(location, request.url).href;
      if (sameEndpoint(next, redirectUri)) return { kind: 'redirect', url: new URL(next), trail };
      request = { url: next, method: 'GET' };
      continue;
    }
    if (res.status !== 200) fail(`unexpected HTTP ${res.status} from ${request.url}`, { trail, body: res.text.slice(0, 2000) });
    const forms = parseForms(res.text, request.url);
    const toClient = forms.find((f) => sameEndpoint(f.action, redirectUri));
    if (toClient) {
      if (toClient.method !== 'post') fail('form_post page must POST to the redirect URI', toClient);
      return { kind: 'form_post', action: toClient.action, fields: toClient.hidden, trail, headers: res.headers };
    }
    const form = forms.find((f) => f.method === 'post' && f.hidden.step);
    if (!form) fail(`page has no sign-in form: ${request.url}`, { trail, body: res.text.slice(0, 2000) });
    const fields = { ...form.hidden };
    switch (form.hidden.step) {
      case 'identify':
        if (!form.inputs.includes('email')) fail('identify step has no email input', form);
        fields.email = email;
        break;
      case 'password':
        if (!form.inputs.includes('password')) fail('password step has no password input', form);
        fields.password = password;
        break;
      case 'consent': {
        const allow = form.buttons.find((b) => b.name === 'decision' && b.value === 'allow');
        if (!allow) fail('consent page has no allow button', form);
        fields.decision = 'allow';
        break;
      }
      default:
        fail(`unknown sign-in step ${form.hidden.step}`, { trail, body: res.text.slice(0, 2000) });
    }
    request = { url: form.action, method: 'POST', form: fields };
  }
  fail(`sign-in did not finish within ${maxSteps} requests`, trail);
}

// ---------------------------------------------------------------------------- token helpers
let jwksKids = []; // the kids published at jwks_uri, filled in by the discovery step
function b64urlJson(segment) {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
}
function jwtHeader(jwt) {
  return b64urlJson(jwt.split('.')[0]);
}
function atHash(accessToken) {
  return createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url');
}

async function discover(app, clientAuth, metadata = {}, extra = []) {
  return client.discovery(new URL(ISSUER), app.client_id, metadata, clientAuth, {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks, ...extra],
  });
}

/** Starts an authorization request with PKCE S256, state and nonce. */
async function authorizationRequest(config, app, params = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: app.redirect_uri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, codeVerifier, state, nonce };
}

function checkIssInRedirect(url) {
  checkEqual(url.searchParams.get('iss'), ISSUER, 'authorization response carries iss (RFC 9207)');
}

/** The standard checks on a code-flow ID token (on top of openid-client's own). */
async function checkIdToken(tokens, { app, nonce, alg, jwks }) {
  const idToken = tokens.id_token;
  check(typeof idToken === 'string', 'token response has an id_token');
  const header = jwtHeader(idToken);
  checkEqual(header.alg, alg, 'ID token alg');
  check(typeof header.kid === 'string' && header.kid.length > 0, 'ID token header has a kid');
  check(jwksKids.includes(header.kid), 'the ID token kid resolves in the JWKS', { kid: header.kid, jwksKids });
  // Independent re-verification with jose against the published JWKS.
  const { payload } = await jose.jwtVerify(idToken, jwks, { issuer: ISSUER, audience: app.client_id, algorithms: [alg] });
  ok('ID token signature verifies with jose against jwks_uri');
  const claims = tokens.claims();
  checkEqual(claims.sub, payload.sub, 'openid-client and jose agree on sub');
  checkEqual(claims.iss, ISSUER, 'ID token iss');
  check([claims.aud].flat().includes(app.client_id), 'ID token aud contains client_id', claims.aud);
  checkEqual(claims.nonce, nonce, 'ID token nonce echoes the request');
  check(typeof claims.sub === 'string' && claims.sub.length > 0 && claims.sub.length <= 255, 'sub is 1..255 chars');
  for (const name of ['tid', 'oid', 'sid']) check(typeof claims[name] === 'string' && claims[name].length > 0, `ID token has ${name}`, claims);
  check(Array.isArray(claims.amr) && claims.amr.includes('pwd'), 'ID token amr includes "pwd"', claims.amr);
  checkEqual(claims.acr, 'https://refeds.org/profile/sfa', 'ID token acr');
  check(Number.isInteger(claims.auth_time) && Math.abs(claims.auth_time - Date.now() / 1000) < 600, 'ID token auth_time is recent', claims.auth_time);
  check(Number.isInteger(claims.iat) && Number.isInteger(claims.exp) && claims.exp > claims.iat, 'ID token iat < exp');
  checkEqual(claims.at_hash, atHash(tokens.access_token), 'ID token at_hash matches the access token');
  checkEqual(claims.email, CFG.user.email, 'ID token email (scope email)');
  check(typeof claims.email_verified === 'boolean', 'ID token email_verified is a boolean', claims.email_verified);
  checkEqual(claims.name, CFG.user.name, 'ID token name (scope profile)');
  return claims;
}

/** RFC 9068 checks on a JWT access token, verified against the JWKS. */
async function checkAccessToken(accessToken, { jwks, alg, clientId, label }) {
  const header = jwtHeader(accessToken);
  checkEqual(header.typ, 'at+jwt', `${label}: header typ (RFC 9068 §2.1)`);
  checkEqual(header.alg, alg, `${label}: alg`);
  const { payload } = await jose.jwtVerify(accessToken, jwks, { issuer: ISSUER, typ: 'at+jwt', algorithms: [alg] });
  ok(`${label}: signature verifies against jwks_uri`);
  for (const name of ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti']) {
    check(payload[name] !== undefined, `${label}: has ${name} (RFC 9068 §2.2)`, payload);
  }
  checkEqual(payload.client_id, clientId, `${label}: client_id`);
  return payload;
}

// ------------------------------------------------------------------------------------ the run
async function main() {
  const apps = CFG.apps;
  const user = CFG.user;

  step('discovery');
  const web = await discover(apps.web, client.ClientSecretBasic(apps.web.client_secret));
  const meta = web.serverMetadata();
  checkEqual(meta.issuer, ISSUER, 'issuer equals the discovery URL prefix');
  for (const name of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint', 'revocation_endpoint', 'introspection_endpoint']) {
    check(typeof meta[name] === 'string' && meta[name].startsWith(`${ISSUER}/`), `metadata has ${name} under the issuer`, meta[name]);
  }
  check(meta.code_challenge_methods_supported?.length === 1 && meta.code_challenge_methods_supported[0] === 'S256', 'code_challenge_methods_supported is exactly ["S256"]', meta.code_challenge_methods_supported);
  checkEqual(meta.authorization_response_iss_parameter_supported, true, 'authorization_response_iss_parameter_supported');
  check(meta.response_modes_supported?.includes('form_post'), 'form_post response mode advertised', meta.response_modes_supported);
  check(meta.id_token_signing_alg_values_supported?.includes('RS256'), 'RS256 advertised for ID tokens');
  check(!meta.id_token_signing_alg_values_supported?.includes('none'), 'alg none not advertised');
  const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
  const jwksDoc = await (await fetch(meta.jwks_uri)).json();
  const kids = jwksDoc.keys.map((k) => k.kid);
  jwksKids = kids;
  check(
    kids.length > 0 && kids.every((k) => typeof k === 'string' && k.length > 0) && new Set(kids).size === kids.length,
    'every JWKS key has a kid, all distinct (RFC 7517 §4.5; tokens name their key by kid, SECURITY D.36/D.41)',
    jwksDoc,
  );
  check(jwksDoc.keys.every((k) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((m) => m in k)), 'JWKS holds no private key members');

  step('authorization code flow with PKCE (confidential client, client_secret_basic, RS256)');
  const jar = new CookieJar();
  let req = await authorizationRequest(web, apps.web);
  let out = await runBrowser(jar, req.url, { redirectUri: apps.web.redirect_uri, email: user.email, password: user.password });
  checkEqual(out.kind, 'redirect', 'sign-in ends in a redirect to the client');
  check(out.trail.some((t) => /\/login\?tx=/.test(t)), 'authorize sent the browser to the login page', out.trail);
  check(jar.has('gh_session'), 'a gh_session cookie exists after sign-in');
  checkIssInRedirect(out.url);
  checkEqual(out.url.searchParams.get('state'), req.state, 'state echoed');
  check(!out.url.searchParams.has('code_challenge'), 'code_challenge not echoed in the response');
  let tokens = await client.authorizationCodeGrant(web, out.url, {
    pkceCodeVerifier: req.codeVerifier,
    expectedState: req.state,
    expectedNonce: req.nonce,
    idTokenExpected: true,
  });
  ok('openid-client authorizationCodeGrant accepted the response (iss, state, nonce, ID token signature)');
  checkEqual(tokens.token_type?.toLowerCase(), 'bearer', 'token_type');
  check(typeof tokens.refresh_token === 'string', 'refresh_token issued for offline_access');
  check(Number.isInteger(tokens.expires_in) && tokens.expires_in > 0, 'expires_in present');
  const idClaims = await checkIdToken(tokens, { app: apps.web, nonce: req.nonce, alg: 'RS256', jwks });
  const userAt = await checkAccessToken(tokens.access_token, { jwks, alg: 'RS256', clientId: apps.web.client_id, label: 'user access token' });
  checkEqual(userAt.sub, idClaims.sub, 'access token sub equals ID token sub');

  step('code replay is refused');
  await expectOAuthError(
    client.authorizationCodeGrant(web, out.url, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce }),
    'invalid_grant',
    'second redemption of the same code',
  );
  // RFC 6749 §4.1.2 / SECURITY B.22: the replay revokes what the first redemption issued.
  await expectOAuthError(client.refreshTokenGrant(web, tokens.refresh_token), 'invalid_grant', 'the refresh token of the replayed code is revoked');
  try {
    await client.fetchUserInfo(web, tokens.access_token, idClaims.sub);
    fail('the access token of the replayed code still works at userinfo');
  } catch (err) {
    if (err instanceof CheckFailed) throw err;
    checkEqual(err.status ?? err.response?.status, 401, 'the access token of the replayed code gets 401 at userinfo');
  }

  step('prompt=none with a session returns a code directly');
  req = await authorizationRequest(web, apps.web, { prompt: 'none' });
  out = await runBrowser(jar, req.url, { redirectUri: apps.web.redirect_uri, email: user.email, password: user.password, maxSteps: 1 });
  checkIssInRedirect(out.url);
  tokens = await client.authorizationCodeGrant(web, out.url, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce, idTokenExpected: true });
  ok('silent sign-in exchanged for tokens');
  const silentClaims = tokens.claims();
  checkEqual(silentClaims.sub, idClaims.sub, 'same pairwise sub for the same client');
  checkEqual(silentClaims.sid, idClaims.sid, 'same sid (same browser session)');
  checkEqual(silentClaims.auth_time, idClaims.auth_time, 'auth_time unchanged without re-authentication');

  step('userinfo');
  const info = await client.fetchUserInfo(web, tokens.access_token, silentClaims.sub);
  ok('openid-client fetchUserInfo accepted the response (sub check included)');
  checkEqual(info.sub, silentClaims.sub, 'userinfo sub equals ID token sub');
  checkEqual(info.email, user.email, 'userinfo email');
  checkEqual(info.name, user.name, 'userinfo name');

  step('refresh token rotation');
  const rt1 = tokens.refresh_token;
  const refreshed = await client.refreshTokenGrant(web, rt1);
  ok('refreshTokenGrant succeeded');
  check(typeof refreshed.refresh_token === 'string' && refreshed.refresh_token !== rt1, 'a new refresh token, different from the old one');
  check(refreshed.access_token !== tokens.access_token, 'a new access token');
  if (refreshed.id_token) {
    const c = refreshed.claims();
    checkEqual(c.sub, silentClaims.sub, 'refreshed ID token keeps sub (OIDC §12.2)');
    checkEqual(c.auth_time, silentClaims.auth_time, 'refreshed ID token keeps auth_time (OIDC §12.2)');
    await jose.jwtVerify(refreshed.id_token, jwks, { issuer: ISSUER, audience: apps.web.client_id });
    ok('refreshed ID token verifies against the JWKS');
  }
  await client.fetchUserInfo(web, refreshed.access_token, silentClaims.sub);
  ok('refreshed access token works at userinfo');
  await expectOAuthError(client.refreshTokenGrant(web, rt1), 'invalid_grant', 'the old refresh token is refused');
  await expectOAuthError(client.refreshTokenGrant(web, refreshed.refresh_token), 'invalid_grant', 'reuse revoked the whole family: the new refresh token is refused too (SECURITY C.32)');

  step('a tampered ID token signature is rejected (proves signature checking is on)');
  const tampered = await discover(apps.web, client.ClientSecretBasic(apps.web.client_secret));
  tampered[client.customFetch] = async (url, options) => {
    const response = await fetch(url, options);
    if (url.toString() !== meta.token_endpoint || response.status !== 200) return response;
    const body = await response.json();
    const [h, p, s] = body.id_token.split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[sig.length >> 1] ^= 0x01;
    body.id_token = `${h}.${p}.${sig.toString('base64url')}`;
    return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
  };
  req = await authorizationRequest(tampered, apps.web, { prompt: 'none' });
  out = await runBrowser(jar, req.url, { redirectUri: apps.web.redirect_uri, maxSteps: 1 });
  try {
    await client.authorizationCodeGrant(tampered, out.url, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce });
    fail('openid-client accepted an ID token with a broken signature: signature checks are not active');
  } catch (err) {
    if (err instanceof CheckFailed) throw err;
    check(/signature/i.test(`${err.code} ${err.message} ${err.cause}`), 'openid-client refused the tampered ID token (signature verification failed)', describe(err));
  }

  step('client_credentials with a second app (client_secret_post)');
  const service = await discover(apps.service, client.ClientSecretPost(apps.service.client_secret));
  const cc = await client.clientCredentialsGrant(service);
  ok('clientCredentialsGrant succeeded');
  check(cc.id_token === undefined, 'no ID token for client_credentials');
  check(cc.refresh_token === undefined, 'no refresh token for client_credentials');
  const ccAt = await checkAccessToken(cc.access_token, { jwks, alg: 'RS256', clientId: apps.service.client_id, label: 'client_credentials access token' });
  check(ccAt.sub !== idClaims.sub && ccAt.sub !== idClaims.oid, 'application sub differs from the user sub/oid', ccAt.sub);
  check(ccAt.oid === undefined || ccAt.oid !== idClaims.oid, 'client_credentials token names no user oid');
  await expectOAuthError(client.clientCredentialsGrant(web), 'unauthorized_client', 'the web app (no client_credentials grant) is refused');

  step('private_key_jwt: a registered ES256 key and no shared secret (RFC 7523)');
  check(!apps.pkjwt.client_secret, 'the keyed app was given no shared secret');
  const { kid: pkjwtKid, ...pkjwtJwk } = CFG.pkjwt_private_jwk;
  const pkjwtKey = await crypto.subtle.importKey('jwk', pkjwtJwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const keyed = await discover(apps.pkjwt, client.PrivateKeyJwt({ key: pkjwtKey, kid: pkjwtKid }));
  const pkcc = await client.clientCredentialsGrant(keyed);
  ok('clientCredentialsGrant authenticated with private_key_jwt');
  await checkAccessToken(pkcc.access_token, { jwks, alg: 'RS256', clientId: apps.pkjwt.client_id, label: 'private_key_jwt access token' });
  checkEqual((await client.tokenIntrospection(keyed, pkcc.access_token)).active, true, 'introspection with private_key_jwt');
  await client.tokenRevocation(keyed, pkcc.access_token);
  ok('revocation authenticated with private_key_jwt');
  checkEqual((await client.tokenIntrospection(keyed, pkcc.access_token)).active, false, 'the revoked token is inactive');
  const stranger = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const forged = await discover(apps.pkjwt, client.PrivateKeyJwt({ key: stranger.privateKey, kid: pkjwtKid }));
  // A 401 invalid_client carries a WWW-Authenticate challenge (RFC 6749 §5.2), which
  // openid-client surfaces as such, with the response.
  try {
    await client.clientCredentialsGrant(forged);
    fail('an assertion signed with an unregistered key was accepted');
  } catch (err) {
    if (err instanceof CheckFailed) throw err;
    const status = err?.response?.status ?? err?.status;
    const body = err?.response ? await err.response.json().catch(() => ({})) : err;
    checkEqual(status, 401, 'an assertion signed with an unregistered key is refused with 401');
    checkEqual(body?.error ?? err?.error, 'invalid_client', 'the refusal is invalid_client');
  }

  step('form_post response mode (fresh browser, full sign-in)');
  const jar2 = new CookieJar();
  req = await authorizationRequest(web, apps.web, { response_mode: 'form_post' });
  out = await runBrowser(jar2, req.url, { redirectUri: apps.web.redirect_uri, email: user.email, password: user.password });
  checkEqual(out.kind, 'form_post', 'sign-in ends in a form_post page');
  check(out.fields.code && out.fields.state && out.fields.iss, 'form_post page has code, state and iss', Object.keys(out.fields));
  checkEqual(out.fields.iss, ISSUER, 'form_post iss (RFC 9207)');
  check(!('code' in Object.fromEntries(new URL(out.action).searchParams)), 'code not leaked into the form action URL');
  const posted = new Request(out.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(out.fields).toString(),
  });
  const fpTokens = await client.authorizationCodeGrant(web, posted, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce, idTokenExpected: true });
  ok('openid-client processed the form_post Request');
  const fpClaims = await checkIdToken(fpTokens, { app: apps.web, nonce: req.nonce, alg: 'RS256', jwks });
  checkEqual(fpClaims.sub, idClaims.sub, 'same pairwise sub in the second browser');
  check(fpClaims.sid !== idClaims.sid, 'a different sid for a different browser session');

  step('ES256 app (client_secret_post)');
  const es = await discover(apps.es256, client.ClientSecretPost(apps.es256.client_secret), { id_token_signed_response_alg: 'ES256' });
  req = await authorizationRequest(es, apps.es256);
  // The browser of the first flow still has its session: no login pages, straight back.
  out = await runBrowser(jar2, req.url, { redirectUri: apps.es256.redirect_uri, email: user.email, password: user.password });
  checkIssInRedirect(out.url);
  const esTokens = await client.authorizationCodeGrant(es, out.url, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce, idTokenExpected: true });
  ok('openid-client verified the ES256 ID token');
  const esClaims = await checkIdToken(esTokens, { app: apps.es256, nonce: req.nonce, alg: 'ES256', jwks });
  await checkAccessToken(esTokens.access_token, { jwks, alg: 'ES256', clientId: apps.es256.client_id, label: 'ES256 access token' });
  check(esClaims.sub !== idClaims.sub, 'pairwise: a different sub for a different client');
  checkEqual(esClaims.oid, idClaims.oid, 'oid is the same user across clients');
  const esInfo = await client.fetchUserInfo(es, esTokens.access_token, esClaims.sub);
  checkEqual(esInfo.sub, esClaims.sub, 'ES256 app userinfo sub');

  step('public client (token_endpoint_auth_method none, PKCE only)');
  const pub = await discover(apps.public, client.None());
  req = await authorizationRequest(pub, apps.public);
  out = await runBrowser(jar2, req.url, { redirectUri: apps.public.redirect_uri, email: user.email, password: user.password });
  const pubTokens = await client.authorizationCodeGrant(pub, out.url, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce, idTokenExpected: true });
  ok('public client code exchange with PKCE only');
  await checkIdToken(pubTokens, { app: apps.public, nonce: req.nonce, alg: 'RS256', jwks });
  const pubRefresh = await client.refreshTokenGrant(pub, pubTokens.refresh_token);
  check(pubRefresh.refresh_token && pubRefresh.refresh_token !== pubTokens.refresh_token, 'public client refresh rotates the token');
  // A wrong verifier must fail: a fresh code, redeemed with someone else's verifier.
  req = await authorizationRequest(pub, apps.public);
  out = await runBrowser(jar2, req.url, { redirectUri: apps.public.redirect_uri, maxSteps: 1 });
  await expectOAuthError(
    client.authorizationCodeGrant(pub, out.url, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: req.state, expectedNonce: req.nonce }),
    'invalid_grant',
    'a wrong code_verifier is refused',
  );

  step('RP-initiated logout');
  const endSession = client.buildEndSessionUrl(web, {
    id_token_hint: fpTokens.id_token,
    post_logout_redirect_uri: apps.web.post_logout_redirect_uri,
    state: 'logout-state-42',
  });
  let res = await browse(jar2, endSession.href);
  checkEqual(res.status, 303, 'end_session answers 303');
  const back = new URL(res.location ?? 'about:blank', endSession);
  check(sameEndpoint(back.href, apps.web.post_logout_redirect_uri), 'redirected to the registered post_logout_redirect_uri', res.location);
  checkEqual(back.searchParams.get('state'), 'logout-state-42', 'logout state echoed');

  req = await authorizationRequest(web, apps.web, { prompt: 'none' });
  out = await runBrowser(jar2, req.url, { redirectUri: apps.web.redirect_uri, maxSteps: 1 });
  checkEqual(out.url.searchParams.get('error'), 'login_required', 'prompt=none after logout gives login_required');
  checkIssInRedirect(out.url);
  checkEqual(out.url.searchParams.get('state'), req.state, 'error response carries state');
  await expectOAuthError(
    client.authorizationCodeGrant(web, out.url, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce }),
    'login_required',
    'openid-client surfaces the login_required authorization error',
  );

  step('logout ends only that browser\'s session (POLICY: per-session logout)');
  req = await authorizationRequest(web, apps.web, { prompt: 'none' });
  out = await runBrowser(jar, req.url, { redirectUri: apps.web.redirect_uri, maxSteps: 1 });
  check(out.url.searchParams.has('code'), 'the first browser still gets a code with prompt=none', out.url.href);
}

const started = Date.now();
try {
  await main();
  console.log(`\nopenid-client: ${tally.passed} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${tally.passed} passed, 0 failed`);
} catch (err) {
  if (err instanceof CheckFailed) {
    console.error(`\nFAIL ${err.message}`);
  } else {
    console.error(`\nFAIL [${tally.step}] unexpected error:`, describe(err));
    if (err?.stack) console.error(err.stack);
  }
  console.log(`${tally.passed} passed, 1 failed`);
  process.exit(1);
}
