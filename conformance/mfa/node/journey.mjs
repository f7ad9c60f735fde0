// Gatehouse conditional-access and TOTP conformance: a member signs in to two apps that use
// openid-client 6 (an OpenID-certified relying-party library); a conditional-access policy
// created with the CLI mid-run then requires multi-factor authentication for app A only. The
// member enrols an authenticator, signs in with TOTP codes computed by `otpauth` (a
// maintained RFC 6238 library) and with a recovery code; negative controls must fail as
// specified.
//
// The protocol work goes through openid-client's functional API; TOTP codes come from
// otpauth, fed with the otpauth:// URI the enrolment page shows. The hand-written HTTP is the
// "browser" (manual redirects, a small cookie jar, and the Fetch Metadata and Origin Chromium
// would send, derived from each page: it follows Gatehouse's redirects and fills in the forms
// as a person would; ../../lib/browser.mjs, with the checks and steps in ../../lib/checks.mjs). The policy is created by running the gatehouse CLI, with the
// environment run.sh exported (the same database as the server).
//
// Usage: node journey.mjs CONFIG.json   (CONFIG is written by ../run.sh; its shape is there)
// Every step is a group of checks; a failed check ends its step, later steps that need it are
// reported as not run (and counted as failed), independent ones still run. The last line is
// "N passed, M failed" (checks). Exit status 0 only if nothing failed.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import { CookieJar, attributes, decodeEntities, headlessBrowser, pageText, parseForms, sameEndpoint } from '../../lib/browser.mjs';
import { check, checkEqual, describe, fail, ok, readConfig, runJourney, step } from '../../lib/checks.mjs';

const CFG = readConfig('journey.mjs');
const ISSUER = CFG.issuer;
const PUBLIC_ORIGIN = new URL(CFG.public_url).origin;
const ACR_MFA = 'https://refeds.org/profile/mfa';
const ACR_SFA = 'https://refeds.org/profile/sfa';
const STEP_SECONDS = 30;
/** The longest wait for the next TOTP time step (one step plus slack). */
const NEXT_STEP_WAIT_MS = (STEP_SECONDS + 5) * 1000;
const MAIL_WAIT_MS = 15_000;

// ------------------------------------------------------------------------------------ reporting
// ok, fail, check, checkEqual and the steps come from ../../lib/checks.mjs.
function checkSame(actual, expected, message) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) fail(message, { expected, actual });
  ok(`${message} (${JSON.stringify(actual)})`);
}
function note(message) {
  console.log(`  ..   ${message}`);
}

// ------------------------------------------------------------------------ the relying parties
// Both apps live at http://127.0.0.1:APP_PORT: app A's redirect URI is /a/callback, app B's
// /b/callback. The browser really opens them, so a redirect lands on a listening app.
const appHits = [];
const appServer = createServer((req, res) => {
  appHits.push(req.url);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>Relying party</title><p>callback: ${req.url.replace(/[<>&"]/g, '')}</p>`);
});

// ------------------------------------------------------------------------ the headless browser
// The cookie jar, requests, redirects and HTML reading are ../../lib/browser.mjs; what a
// sign-in page must look like is checked here.
const { browse, follow } = headlessBrowser(PUBLIC_ORIGIN);

/** The single sign-in form of a page, which must carry tx, csrf and step. */
function journeyForm(page, what) {
  const forms = parseForms(page.text, page.url).filter((f) => f.method === 'post');
  if (forms.length !== 1) fail(`${what}: expected one POST form, found ${forms.length}`, pageText(page.text).slice(0, 1500));
  const form = forms[0];
  for (const field of ['tx', 'csrf', 'step']) {
    if (!form.hidden[field]) fail(`${what}: the form has no hidden ${field} field`, form);
  }
  if (new URL(form.action).pathname !== `/${CFG.tenant.slug}/login`) fail(`${what}: the form posts to ${form.action}, want /${CFG.tenant.slug}/login`);
  return form;
}

/** POSTs a journey form; the answer must be a 303. */
/**
 * Posts a form whose answer is a retry of the same step: Post/Redirect/Get, so the POST
 * answers 303 to the transaction's own page, which shows the notice (and its status).
 */
async function postRetry(jar, form, extra, what) {
  const res = await browse(jar, form.action, { method: 'POST', form: { ...form.hidden, ...extra } });
  if (res.status !== 303) fail(`${what}: the POST must answer 303 (Post/Redirect/Get), got ${res.status}`, pageText(res.text).slice(0, 1500));
  checkEqual(res.location, `${ISSUER}/login?tx=${form.hidden.tx}`, `${what}: the POST answers 303 to the same sign-in page`);
  return follow(jar, res);
}

async function submit(jar, form, extra, what) {
  const res = await browse(jar, form.action, { method: 'POST', form: { ...form.hidden, ...extra } });
  if (res.status !== 303) fail(`${what}: a POST that advances the journey must answer 303, got ${res.status}`, pageText(res.text).slice(0, 1500));
  if (!res.location) fail(`${what}: 303 without Location`);
  return res;
}

// ---------------------------------------------------------------------------------- the CLI
/** Runs the gatehouse CLI with run.sh's environment (same database); returns its JSON. */
function cli(...args) {
  try {
    const out = execFileSync(CFG.cli.bin, args, { cwd: CFG.cli.cwd, env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    return JSON.parse(out);
  } catch (err) {
    if (err.stderr) appendFileSync(CFG.cli.log, String(err.stderr));
    fail(`gatehouse ${args.join(' ')} failed`, { status: err.status, stderr: String(err.stderr ?? '').slice(-1500), stdout: String(err.stdout ?? '').slice(-500), message: err.message });
  }
}

// ---------------------------------------------------------------------------- OIDC helpers
async function discover(app) {
  return client.discovery(new URL(ISSUER), app.client_id, {}, client.ClientSecretBasic(app.client_secret), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

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

/** The code exchange, with openid-client's checks (PKCE, state, nonce, ID token signature, iss, aud). */
async function exchange(config, callbackUrl, req, what) {
  checkEqual(callbackUrl.searchParams.get('iss'), ISSUER, `${what}: authorization response iss (RFC 9207)`);
  check(callbackUrl.searchParams.has('code'), `${what}: the authorization response carries a code`, callbackUrl.href);
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: req.codeVerifier,
    expectedState: req.state,
    expectedNonce: req.nonce,
    idTokenExpected: true,
  });
  ok(`${what}: openid-client authorizationCodeGrant accepted the response (client_secret_basic, PKCE; ID token signature, iss, aud, nonce, state)`);
  return tokens;
}

/** Expects a promise from openid-client to fail with an OAuth error code. */
async function expectOAuthError(promise, code, message) {
  try {
    await promise;
  } catch (err) {
    if (err?.error === code) {
      ok(`${message} (${code}${err.error_description ? `: ${err.error_description}` : ''})`);
      return err;
    }
    fail(`${message}: expected ${code}, got another error`, describe(err));
  }
  fail(`${message}: expected ${code}, but the call succeeded`);
}

/**
 * Drives a browser from an authorization URL: the e-mail, then the password. Stops when
 * Gatehouse sends the browser to the app's redirect URI (which the browser then opens) or when
 * a page of a step outside identify/password shows up (returned with its form).
 */
async function signIn(jar, startUrl, { redirectUri, email, password }) {
  let res = await browse(jar, startUrl.href);
  const trail = [`GET authorize -> ${res.status} ${res.location ?? ''}`];
  for (let i = 0; i < 10; i += 1) {
    if (res.status >= 300 && res.status < 400) {
      if (sameEndpoint(res.location, redirectUri)) {
        const landing = await browse(jar, res.location);
        if (landing.status !== 200) fail(`the app's redirect URI answered ${landing.status}`);
        return { callback: new URL(res.location), trail };
      }
      if (new URL(res.location).origin !== PUBLIC_ORIGIN) fail(`redirected out of Gatehouse to ${res.location}`, trail);
      res = await browse(jar, res.location);
      trail.push(`GET -> ${res.status} ${res.location ?? ''}`);
      continue;
    }
    if (res.status !== 200) fail(`unexpected HTTP ${res.status} at ${res.url}`, { trail, body: pageText(res.text).slice(0, 1500) });
    const form = journeyForm(res, `sign-in page ${res.url}`);
    let fields;
    switch (form.hidden.step) {
      case 'identify':
        if (!form.inputs.includes('email')) fail('the identify page has no email input', form);
        fields = { email };
        break;
      case 'password':
        if (!form.inputs.includes('password')) fail('the password page has no password input', form);
        fields = { password };
        break;
      default:
        return { page: res, form, trail };
    }
    res = await submit(jar, form, fields, `sign-in step ${form.hidden.step}`);
    trail.push(`POST ${form.hidden.step} -> ${res.status} ${res.location}`);
  }
  fail('the sign-in did not finish within 10 requests', trail);
}

/** A sign-in that must reach the MFA page of `step` (enroll or totp). */
async function signInToMfa(jar, req, app, expectedStep) {
  const out = await signIn(jar, req.url, { redirectUri: app.redirect_uri, email: CFG.member.email, password: CFG.member.password });
  if (out.callback) fail(`after the password the browser went back to the app without the second factor: ${out.callback.href}`, out.trail);
  checkEqual(out.form.hidden.step, expectedStep, `after the password, the MFA page asks for step`);
  check(out.trail.some((t) => t.startsWith('POST password -> 303')), 'the password POST answered 303 towards the MFA page', out.trail);
  return out;
}

/** The otpauth:// URI of the enrolment page, as otpauth's TOTP object. */
function enrolmentTotp(page) {
  const m = page.text.match(/<code\b([^>]*\bclass="key"[^>]*)>([\s\S]*?)<\/code>/i);
  if (!m) fail('the enrolment page has no <code class="key" data-otpauth=...>', pageText(page.text).slice(0, 1500));
  const attrs = attributes(m[1]);
  const uri = attrs['data-otpauth'];
  if (!uri?.startsWith('otpauth://totp/')) fail('data-otpauth is an otpauth://totp/ URI', attrs);
  const totp = OTPAuth.URI.parse(uri);
  if (!(totp instanceof OTPAuth.TOTP)) fail('otpauth parses the URI as a TOTP', uri);
  return { uri, totp, manualKey: decodeEntities(m[2]).trim() };
}

/** A six-digit code that is none of the codes of the steps around `now`. */
function wrongCode(totp, nowMs = Date.now()) {
  const near = new Set([-2, -1, 0, 1, 2].map((d) => totp.generate({ timestamp: nowMs + d * STEP_SECONDS * 1000 })));
  for (let n = 0; ; n += 1) {
    const candidate = String((123456 + n * 111111) % 1_000_000).padStart(6, '0');
    if (!near.has(candidate)) return candidate;
  }
}

/** A fresh TOTP code and the time step it belongs to. */
function currentCode(totp) {
  const timestamp = Date.now();
  return { code: totp.generate({ timestamp }), step: Math.floor(timestamp / 1000 / STEP_SECONDS) };
}

/** Waits (polling, bounded) until the TOTP time step is later than `after`. */
async function waitForStepAfter(after) {
  const deadline = Date.now() + NEXT_STEP_WAIT_MS;
  while (Math.floor(Date.now() / 1000 / STEP_SECONDS) <= after) {
    if (Date.now() > deadline) fail(`the clock did not reach TOTP step ${after + 1} within ${NEXT_STEP_WAIT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function checkMfaClaims(claims, what, { otp = true } = {}) {
  const amr = claims.amr;
  check(Array.isArray(amr) && amr.includes('pwd') && amr.includes('mfa') && (!otp || amr.includes('otp')), `${what}: amr includes pwd${otp ? ', otp' : ''} and mfa (${JSON.stringify(amr)})`, amr);
  checkEqual(claims.acr, ACR_MFA, `${what}: acr is the REFEDS MFA profile`);
}
function checkSfaClaims(claims, what) {
  checkSame(claims.amr, ['pwd'], `${what}: amr is exactly ["pwd"]`);
  checkEqual(claims.acr, ACR_SFA, `${what}: acr is the REFEDS SFA profile`);
}

// ---------------------------------------------------------------------------- the mail outbox
/** The .eml messages of the outbox whose headers are unfolded; each {file, headers, text}. */
function outbox() {
  const dir = CFG.outbox_dir;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => {
      const raw = readFileSync(join(dir, f), 'utf8');
      const split = raw.search(/\r?\n\r?\n/);
      const head = (split < 0 ? raw : raw.slice(0, split)).replace(/\r?\n[ \t]+/g, ' ');
      const headers = {};
      for (const line of head.split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      return { file: f, headers, text: raw };
    });
}
async function waitForMail(predicate, what) {
  const deadline = Date.now() + MAIL_WAIT_MS;
  for (;;) {
    const found = outbox().find(predicate);
    if (found) return found;
    if (Date.now() > deadline) fail(`${what}: no such .eml in ${CFG.outbox_dir} within ${MAIL_WAIT_MS / 1000} s`, outbox().map((m) => ({ file: m.file, to: m.headers.to, subject: m.headers.subject })));
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ------------------------------------------------------------------------------------ the run
const S = {}; // state shared between steps

async function main() {
  await new Promise((resolve, reject) => {
    appServer.once('error', reject);
    appServer.listen(CFG.app_port, '127.0.0.1', resolve);
  });
  const A = CFG.app_a;
  const B = CFG.app_b;

  await step('discovery', 'discovery for app A and app B (openid-client)', [], async () => {
    S.a = await discover(A);
    S.b = await discover(B);
    const meta = S.a.serverMetadata();
    checkEqual(meta.issuer, ISSUER, 'discovery issuer');
    check((meta.code_challenge_methods_supported ?? []).includes('S256'), 'PKCE S256 is supported', meta.code_challenge_methods_supported);
    const acrs = meta.acr_values_supported ?? [];
    check(acrs.includes(ACR_MFA) && acrs.includes(ACR_SFA), 'acr_values_supported lists the REFEDS SFA and MFA profiles', acrs);
  });

  await step('sfa', '1. no policy: the member signs in to app A with a password alone (amr ["pwd"], acr sfa), gets a refresh token', ['discovery'], async () => {
    const jar = new CookieJar();
    S.jar1 = jar;
    const req = await authorizationRequest(S.a, A);
    const out = await signIn(jar, req.url, { redirectUri: A.redirect_uri, email: CFG.member.email, password: CFG.member.password });
    if (!out.callback) fail(`with no policy the sign-in stopped at step ${out.form.hidden.step}`, out.trail);
    ok('with no policy, email + password lead straight back to app A');
    const tokens = await exchange(S.a, out.callback, req, 'app A');
    const c = tokens.claims();
    checkEqual(c.oid, CFG.member.id, 'oid is the member');
    checkSfaClaims(c, 'app A, no policy');
    check(typeof tokens.refresh_token === 'string' && tokens.refresh_token.length > 0, 'a refresh token is issued for offline_access');
    const refreshed = await client.refreshTokenGrant(S.a, tokens.refresh_token);
    check(typeof refreshed.refresh_token === 'string', 'before any policy, the refresh token works (refreshTokenGrant)');
    S.sfaRefreshToken = refreshed.refresh_token;
  });

  await step('policy', '2. a policy created with the CLI requires MFA on app A: the single-factor refresh token gets invalid_grant', ['sfa'], async () => {
    const policy = cli('policy', 'create', '--tenant', CFG.tenant.slug, '--name', 'Require MFA for app A', '--user', 'All', '--app', A.client_id, '--grant', 'mfa');
    check(typeof policy.id === 'string' && policy.id.length > 0, 'gatehouse policy create prints the policy with an id', policy);
    checkEqual(policy.state, 'enabled', 'the policy is enabled');
    checkSame(policy.conditions?.applications?.includeApplications, [A.client_id], 'the policy covers app A only');
    checkSame(policy.conditions?.users?.includeUsers, ['All'], 'the policy covers all users');
    check((policy.grantControls?.builtInControls ?? []).includes('mfa'), 'the grant control is mfa', policy.grantControls);
    const list = cli('policy', 'list', '--tenant', CFG.tenant.slug);
    check((list.value ?? []).some((p) => p.id === policy.id), 'gatehouse policy list shows it');
    S.policyId = policy.id;
    // The running server caches policies; a change made by the CLI (another process) reaches it
    // at its next configuration poll (GATEHOUSE_KEYS__REFRESH_INTERVAL, 2 s).
    await new Promise((r) => setTimeout(r, 2_500));
    await expectOAuthError(client.refreshTokenGrant(S.a, S.sfaRefreshToken), 'invalid_grant', 'the refresh token of the single-factor sign-in is refused now');
  });

  await step('passive', '3. prompt=none in the single-factor session: error=interaction_required', ['policy'], async () => {
    const req = await authorizationRequest(S.a, A, { prompt: 'none' });
    const res = await browse(S.jar1, req.url.href);
    checkEqual(res.status, 303, 'prompt=none answers with a redirect');
    check(sameEndpoint(res.location, A.redirect_uri), 'the redirect goes to app A\'s redirect URI', res.location);
    const callback = new URL(res.location);
    checkEqual(callback.searchParams.get('error'), 'interaction_required', 'error');
    checkEqual(callback.searchParams.get('state'), req.state, 'state is echoed');
    checkEqual(callback.searchParams.get('iss'), ISSUER, 'iss (RFC 9207)');
    check(!callback.searchParams.has('code'), 'no code');
    await expectOAuthError(
      client.authorizationCodeGrant(S.a, callback, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce }),
      'interaction_required',
      'openid-client reports the authorization error',
    );
  });

  await step('enrol', '4. fresh sign-in: enrolment with a TOTP from otpauth, ten recovery codes, ID token with amr otp/mfa and acr mfa', ['policy'], async () => {
    const jar = new CookieJar();
    S.jar2 = jar;
    const req = await authorizationRequest(S.a, A);
    const { page, form } = await signInToMfa(jar, req, A, 'enroll');
    check(form.inputs.includes('code'), 'the enrolment page asks for a code');
    check(/<svg\b[\s\S]*<\/svg>/i.test(page.text), 'the enrolment page shows an inline SVG QR code');
    const { uri, totp, manualKey } = enrolmentTotp(page);
    ok(`otpauth parses data-otpauth (${uri.replace(/secret=[^&]*/, 'secret=…')})`);
    checkEqual(totp.algorithm, 'SHA1', 'TOTP algorithm');
    checkEqual(totp.digits, 6, 'TOTP digits');
    checkEqual(totp.period, STEP_SECONDS, 'TOTP period');
    checkEqual(totp.issuer, CFG.tenant.name, 'otpauth issuer is the organisation');
    checkEqual(totp.label, CFG.member.email, 'otpauth label is the member\'s address');
    check(totp.secret.bytes.length >= 20, `the secret has ${totp.secret.bytes.length * 8} bits (at least 160)`);
    checkEqual(manualKey.replace(/\s+/g, ''), totp.secret.base32.replace(/=+$/, ''), 'the manual key is the same secret in base32');
    // A wrong code is refused on the same page; the secret stays the same.
    const wrong = wrongCode(totp);
    let res = await postRetry(jar, form, { code: wrong }, 'a wrong enrolment code');
    checkEqual(res.status, 200, 'a wrong enrolment code re-shows the page');
    check(/not right/i.test(pageText(res.text)), 'the page says the code is not right', pageText(res.text).slice(0, 600));
    const again = journeyForm(res, 'enrolment page after a wrong code');
    checkEqual(again.hidden.step, 'enroll', 'still at the enrolment step');
    checkEqual(enrolmentTotp(res).uri, uri, 'the secret did not change');
    // The right code.
    const { code, step: enrolStep } = currentCode(totp);
    res = await submit(jar, again, { code }, 'enrolment code');
    checkEqual(res.location, `${ISSUER}/login?tx=${again.hidden.tx}`, 'the right code answers 303 to the same login page');
    res = await follow(jar, res);
    checkEqual(res.status, 200, 'the recovery-codes page');
    const saved = journeyForm(res, 'recovery codes page');
    checkEqual(saved.hidden.step, 'recovery_saved', 'the page step');
    const codes = [...res.text.matchAll(/<li>\s*<code>([^<]*)<\/code>\s*<\/li>/gi)].map((m) => decodeEntities(m[1]).trim());
    checkEqual(codes.length, 10, 'ten recovery codes are shown');
    check(codes.every((c) => /^[a-z0-9]{5}-[a-z0-9]{5}$/.test(c)), 'each has the shape xxxxx-xxxxx', codes);
    checkEqual(new Set(codes).size, 10, 'the ten codes are distinct');
    S.totp = totp;
    S.enrolCode = code;
    S.enrolStep = enrolStep;
    S.recoveryCodes = codes;
    res = await submit(jar, saved, {}, 'recovery codes saved');
    check(sameEndpoint(res.location, A.redirect_uri), 'continuing sends the browser to app A\'s redirect URI', res.location);
    const callback = new URL(res.location);
    checkEqual((await browse(jar, callback.href)).status, 200, 'the browser lands on app A');
    const tokens = await exchange(S.a, callback, req, 'app A after enrolment');
    const c = tokens.claims();
    checkEqual(c.oid, CFG.member.id, 'oid is the member');
    checkMfaClaims(c, 'app A after enrolment');
    check(typeof tokens.refresh_token === 'string', 'a refresh token is issued');
    const refreshed = await client.refreshTokenGrant(S.a, tokens.refresh_token);
    check(typeof refreshed.access_token === 'string', 'the refresh token of the multi-factor sign-in works under the policy');
    // The same browser now has a multi-factor session: prompt=none succeeds.
    const silent = await authorizationRequest(S.a, A, { prompt: 'none' });
    const quiet = await browse(jar, silent.url.href);
    check(quiet.status === 303 && sameEndpoint(quiet.location, A.redirect_uri) && new URL(quiet.location).searchParams.has('code'), 'prompt=none in the multi-factor session returns a code', quiet.location);
    const silentTokens = await exchange(S.a, new URL(quiet.location), silent, 'app A, prompt=none after MFA');
    checkMfaClaims(silentTokens.claims(), 'app A, prompt=none after MFA');
  });

  await step('notice', '4b. a "Security notice" e-mail about the new authenticator is written to the outbox', ['enrol'], async () => {
    const mail = await waitForMail((m) => /security notice/i.test(m.headers.subject ?? '') && (m.headers.to ?? '').toLowerCase().includes(CFG.member.email.toLowerCase()), 'security notice');
    ok(`the outbox has ${mail.file}: Subject: ${mail.headers.subject}`);
    check(/authenticator app was added/i.test(mail.text.replace(/=\r?\n/g, '')), 'it says an authenticator app was added');
  });

  await step('totp', '5. a new browser: TOTP challenge; the enrolment code is refused, the next step\'s code works', ['enrol'], async () => {
    const jar = new CookieJar();
    const req = await authorizationRequest(S.a, A);
    const { page, form } = await signInToMfa(jar, req, A, 'totp');
    check(form.inputs.includes('code'), 'the challenge asks for a code');
    check(pageText(page.text).includes(CFG.member.email), 'the challenge names the account');
    const nowStep = Math.floor(Date.now() / 1000 / STEP_SECONDS);
    note(`enrolment code was for TOTP step ${S.enrolStep}; now at step ${nowStep} (inside the ±1 window: ${nowStep - S.enrolStep <= 1})`);
    let res = await postRetry(jar, form, { code: S.enrolCode }, 'the replayed enrolment code');
    checkEqual(res.status, 200, 'replaying the enrolment code re-shows the challenge');
    check(pageText(res.text).includes('That code is not right'), 'the page says "That code is not right"', pageText(res.text).slice(0, 600));
    const retry = journeyForm(res, 'challenge after a replayed code');
    checkEqual(retry.hidden.step, 'totp', 'still at the totp step');
    const waitStart = Date.now();
    await waitForStepAfter(S.enrolStep);
    const { code, step: usedStep } = currentCode(S.totp);
    note(`waited ${((Date.now() - waitStart) / 1000).toFixed(1)} s for TOTP step ${usedStep}`);
    res = await submit(jar, retry, { code }, 'TOTP code of the next step');
    check(sameEndpoint(res.location, A.redirect_uri), 'the code of the next step sends the browser to app A', res.location);
    const callback = new URL(res.location);
    checkEqual((await browse(jar, callback.href)).status, 200, 'the browser lands on app A');
    const tokens = await exchange(S.a, callback, req, 'app A with TOTP');
    checkMfaClaims(tokens.claims(), 'app A with TOTP');
    S.lastTotp = { code, step: usedStep };
  });

  await step('recovery', '5b. another browser: a recovery code signs in once; a fourth browser cannot use it again', ['enrol'], async () => {
    const recovery = S.recoveryCodes[0];
    let jar = new CookieJar();
    let req = await authorizationRequest(S.a, A);
    let { form } = await signInToMfa(jar, req, A, 'totp');
    let res = await submit(jar, form, { code: recovery }, 'recovery code');
    check(sameEndpoint(res.location, A.redirect_uri), 'the recovery code sends the browser to app A', res.location);
    const callback = new URL(res.location);
    const tokens = await exchange(S.a, callback, req, 'app A with a recovery code');
    checkMfaClaims(tokens.claims(), 'app A with a recovery code', { otp: false });
    // Fourth browser: the same recovery code again.
    jar = new CookieJar();
    S.jar5 = jar;
    req = await authorizationRequest(S.a, A);
    ({ form } = await signInToMfa(jar, req, A, 'totp'));
    res = await postRetry(jar, form, { code: recovery }, 'the used recovery code');
    checkEqual(res.status, 200, 'the used recovery code re-shows the challenge');
    check(pageText(res.text).includes('That code is not right'), 'the page says "That code is not right"', pageText(res.text).slice(0, 600));
    S.pendingForm = journeyForm(res, 'challenge after a used recovery code');
    checkEqual(S.pendingForm.hidden.step, 'totp', 'still at the totp step');
  });

  await step('no-skip', '6. while the TOTP step is pending, forms of other steps are refused with 403', ['recovery'], async () => {
    const jar = S.jar5;
    const form = S.pendingForm;
    for (const [label, fields] of [
      ['step=recovery_saved', { step: 'recovery_saved' }],
      ['step=consent, decision=allow', { step: 'consent', decision: 'allow' }],
      ['step=enroll with a code', { step: 'enroll', code: '123456' }],
      ['step=password with the password', { step: 'password', password: CFG.member.password }],
    ]) {
      const res = await browse(jar, form.action, { method: 'POST', form: { ...form.hidden, ...fields } });
      checkEqual(res.status, 403, `posting ${label} at the totp step`);
      check(!res.location, `${label}: no redirect`, res.location);
    }
    const page = await browse(jar, `${ISSUER}/login?tx=${encodeURIComponent(form.hidden.tx)}`);
    checkEqual(page.status, 200, 'the sign-in page still opens');
    checkEqual(journeyForm(page, 'challenge after the refused posts').hidden.step, 'totp', 'and still asks for the TOTP code');
  });

  await step('app-b', '7. app B is not covered by the policy: a password alone signs in (amr ["pwd"], acr sfa)', ['policy'], async () => {
    const jar = new CookieJar();
    const req = await authorizationRequest(S.b, B);
    const out = await signIn(jar, req.url, { redirectUri: B.redirect_uri, email: CFG.member.email, password: CFG.member.password });
    if (!out.callback) fail(`app B's sign-in stopped at step ${out.form.hidden.step}, but no policy covers app B`, out.trail);
    ok('email + password lead straight back to app B');
    const tokens = await exchange(S.b, out.callback, req, 'app B');
    checkEqual(tokens.claims().oid, CFG.member.id, 'oid is the member');
    checkSfaClaims(tokens.claims(), 'app B');
    // The first browser's single-factor session still serves app B silently.
    const silent = await authorizationRequest(S.b, B, { prompt: 'none' });
    const res = await browse(S.jar1, silent.url.href);
    check(res.status === 303 && sameEndpoint(res.location, B.redirect_uri) && new URL(res.location).searchParams.has('code'), 'prompt=none for app B in the single-factor session returns a code', res.location);
    const silentTokens = await exchange(S.b, new URL(res.location), silent, 'app B, prompt=none');
    checkSfaClaims(silentTokens.claims(), 'app B, prompt=none');
  });

  await step('throttle', 'wrong TOTP codes are throttled: 429 after several', ['enrol'], async () => {
    const jar = new CookieJar();
    const req = await authorizationRequest(S.a, A);
    let { form } = await signInToMfa(jar, req, A, 'totp');
    const statuses = [];
    for (let i = 0; i < 8; i += 1) {
      const res = await postRetry(jar, form, { code: wrongCode(S.totp) }, `wrong code ${i + 1}`);
      statuses.push(res.status);
      if (res.status === 429) {
        check(/too many/i.test(pageText(res.text)), 'the 429 page says there were too many wrong codes', pageText(res.text).slice(0, 400));
        break;
      }
      if (res.status !== 200) fail(`a wrong code answered ${res.status}`, { statuses });
      form = journeyForm(res, 'challenge after a wrong code');
    }
    check(statuses.at(-1) === 429, `wrong codes end in 429 (statuses ${statuses.join(', ')})`, statuses);
  });
}

await runJourney('mfa', main, () => appServer.close());
