// Gatehouse guest-federation conformance: guests whose home identity provider is a real,
// third-party OpenID Provider (oidc-provider 9, see home-idp.mjs) are invited through the
// Graph-shaped API, redeem their invitations by signing in at home, and later sign in to an
// app that uses openid-client 6 (an OpenID-certified relying-party library) through
// home-realm discovery. Negative controls must fail as specified.
//
// Two partner organisations, each its own oidc-provider on a loopback port:
//   Fabrikam   registered without MFA trust; its accounts: gus (verified address, amr
//              pwd+mfa: the upstream MFA must NOT count), vera (email_verified false: refused,
//              then, with unverifiedAddressRedemption holdForApproval, held and approved);
//   Northwind  registered with --trust-mfa; its account noor (verified, amr pwd+mfa).
// The journey registers both with the gatehouse CLI (the same environment as run.sh, so the
// same database as the server), after the IdPs are up: registration fetches their discovery.
//
// The protocol work toward Gatehouse goes through openid-client's functional API. The
// hand-written HTTP is the "browser" (../../lib/browser.mjs: manual redirects, a cookie jar,
// and the Fetch Metadata and Origin Chromium would send, derived from each page; it follows
// redirects between Gatehouse and the home IdPs and fills in Gatehouse's forms as a person
// would) and the admin API calls (JSON over fetch).
//
// Usage: node journey.mjs CONFIG.json   (CONFIG is written by ../run.sh; its shape is there)
// Every step is a group of checks; a failed check ends its step, later steps that need it are
// reported as not run (and counted as failed), independent ones still run. The last line is
// "N passed, M failed" (checks). Exit status 0 only if nothing failed.

import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import * as client from 'openid-client';
import { CookieJar, headlessBrowser, pageText, parseForms, sameEndpoint } from '../../lib/browser.mjs';
import { check, checkEqual, describe, fail, ok, readConfig, runJourney, step } from '../../lib/checks.mjs';
import { startHomeIdp } from './home-idp.mjs';

const CFG = readConfig('journey.mjs');
const ISSUER = CFG.issuer;
const PUBLIC_ORIGIN = new URL(CFG.public_url).origin;
const API = `${ISSUER}/v1.0`;
const CALLBACK = `${ISSUER}/federation/oidc/callback`;
const MAIL_WAIT_MS = 15_000;

// ------------------------------------------------------------------------------------ reporting
function checkSame(actual, expected, message) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) fail(message, { expected, actual });
  ok(`${message} (${JSON.stringify(actual)})`);
}
function note(message) {
  console.log(`  ..   ${message}`);
}

// ------------------------------------------------------------------------ the relying party app
// The app lives at http://127.0.0.1:APP_PORT: "/" is where invited guests land
// (inviteRedirectUrl), "/callback" its redirect URI. The browser really opens them.
const APP_ORIGIN = `http://127.0.0.1:${CFG.app_port}`;
const appHits = [];
const appServer = createServer((req, res) => {
  appHits.push(req.url);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>Supplier portal</title><p>supplier portal: ${req.url.replace(/[<>&"]/g, '')}</p>`);
});

// ------------------------------------------------------------------------ the headless browser
const { browse } = headlessBrowser(PUBLIC_ORIGIN);

/** The single journey form of a Gatehouse page, which must carry tx, csrf and step. */
function journeyForm(page, what) {
  const forms = parseForms(page.text, page.url).filter((f) => f.method === 'post');
  if (forms.length !== 1) fail(`${what}: expected one POST form, found ${forms.length}`, pageText(page.text).slice(0, 1500));
  const form = forms[0];
  for (const field of ['tx', 'csrf', 'step']) {
    if (!form.hidden[field]) fail(`${what}: the form has no hidden ${field} field`, form);
  }
  if (new URL(form.action).origin !== PUBLIC_ORIGIN) fail(`${what}: the form posts to ${form.action}, outside Gatehouse`);
  return form;
}

/** POSTs a journey form; the answer must be a 303. */
async function submit(jar, form, extra, what) {
  const res = await browse(jar, form.action, { method: 'POST', form: { ...form.hidden, ...extra } });
  if (res.status !== 303) fail(`${what}: a POST that advances the journey must answer 303, got ${res.status}`, pageText(res.text).slice(0, 1500));
  if (!res.location) fail(`${what}: 303 without Location`);
  return res;
}

/**
 * Follows redirects from `res` through Gatehouse and the home IdPs (any loopback origin the
 * suite runs) and records each hop, until a page (non-redirect answer) or a redirect to
 * `stopAt` (a URL whose endpoint ends the walk; not opened). Returns { res, hops } where hops
 * are the URLs requested, in order.
 */
async function walk(jar, res, { stopAt = [], maxHops = 15 } = {}) {
  const hops = [];
  let current = res;
  for (let i = 0; i < maxHops; i += 1) {
    if (!(current.status >= 300 && current.status < 400)) return { res: current, hops };
    const next = current.location;
    if (!next) fail(`HTTP ${current.status} without Location at ${current.url}`);
    if (stopAt.some((u) => sameEndpoint(next, u))) return { res: current, hops, stopped: next };
    const url = new URL(next);
    if (url.hostname !== '127.0.0.1') fail(`redirected off the loopback to ${next}`, hops);
    hops.push(next);
    current = await browse(jar, next);
  }
  fail(`more than ${maxHops} redirects`, hops);
}

/** Whether `url` is at the home IdP `idp`'s authorization endpoint. */
function atAuthorize(url, idp) {
  return url !== undefined && sameEndpoint(url, idp.authorizationEndpoint);
}

// ---------------------------------------------------------------------------------- the CLI
// Asynchronous on purpose: the home IdPs run in this process, and `partner create` fetches
// their discovery while the CLI runs (a synchronous child would block their event loop).

/** Runs the gatehouse CLI with run.sh's environment (same database); { status, stdout, stderr }. */
function runCli(args, stdin) {
  return new Promise((resolve) => {
    const child = execFile(CFG.cli.bin, args, { cwd: CFG.cli.cwd, env: process.env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (stderr) appendFileSync(CFG.cli.log, String(stderr));
      resolve({ status: err ? (err.code ?? 'error') : 0, signal: err?.signal, stdout: String(stdout ?? ''), stderr: String(stderr ?? ''), error: err });
    });
    child.stdin.end(stdin ?? '');
  });
}
/** A CLI command that must succeed; returns its JSON. */
async function cli(args, { stdin } = {}) {
  const out = await runCli(args, stdin);
  if (out.status !== 0) fail(`gatehouse ${args.join(' ')} failed`, { status: out.status, signal: out.signal, stderr: out.stderr.slice(-1500), stdout: out.stdout.slice(-500) });
  return JSON.parse(out.stdout);
}
/** A CLI command that must fail (with an exit status, not a signal); returns { status, stderr }. */
async function cliRefused(args, { stdin } = {}) {
  const out = await runCli(args, stdin);
  if (out.status === 0) fail(`gatehouse ${args.join(' ')} succeeded, but must be refused`, out.stdout.slice(0, 1500));
  if (typeof out.status !== 'number') fail(`gatehouse ${args.join(' ')} did not run to an exit status`, describe(out.error));
  return out;
}

// ---------------------------------------------------------------------------------- admin API
async function api(method, path, { token, body } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, json, text };
}

// ---------------------------------------------------------------------------- the mail outbox
/** The .eml messages of the outbox, each {file, headers (unfolded), text}. */
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

// ---------------------------------------------------------------------------- OIDC helpers
async function discover(app) {
  return client.discovery(new URL(ISSUER), app.client_id, {}, client.ClientSecretBasic(app.client_secret), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

async function authorizationRequest(config, params = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: CFG.app.redirect_uri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, codeVerifier, state, nonce };
}

/** The code exchange, with openid-client's checks (PKCE, state, nonce, ID token signature, iss, aud). */
async function exchange(callbackUrl, req, what) {
  checkEqual(callbackUrl.searchParams.get('iss'), ISSUER, `${what}: authorization response iss (RFC 9207)`);
  const tokens = await client.authorizationCodeGrant(S.app, callbackUrl, {
    pkceCodeVerifier: req.codeVerifier,
    expectedState: req.state,
    expectedNonce: req.nonce,
    idTokenExpected: true,
  });
  ok(`${what}: openid-client authorizationCodeGrant accepted the response (client_secret_basic, PKCE; ID token signature, iss, aud, nonce, state)`);
  return tokens;
}

/**
 * Checks the request Gatehouse's browser redirect made at a home IdP's authorization endpoint
 * (`url`), against what the IdP's interaction handler recorded.
 */
function checkUpstreamRequest(url, idp, email, what) {
  const q = new URL(url).searchParams;
  checkEqual(q.get('client_id'), idp.clientId, `${what}: client_id is Gatehouse's client at ${idp.name}`);
  checkEqual(q.get('redirect_uri'), CALLBACK, `${what}: redirect_uri is the tenant's federation callback`);
  checkEqual(q.get('response_type'), 'code', `${what}: response_type`);
  checkSame((q.get('scope') ?? '').split(' ').sort(), ['email', 'openid', 'profile'], `${what}: scope`);
  checkEqual(q.get('login_hint'), email, `${what}: login_hint is the guest's address`);
  checkEqual(q.get('code_challenge_method'), 'S256', `${what}: PKCE S256`);
  check((q.get('code_challenge') ?? '').length >= 43 && (q.get('state') ?? '').length >= 16 && (q.get('nonce') ?? '').length >= 16, `${what}: code_challenge, state and nonce are sent`, Object.fromEntries(q));
}

/**
 * The browser's trip to a home IdP and back: from a 303 to the IdP's authorization endpoint
 * (`res`), through oidc-provider (its interaction handler signs the account in), to the
 * redirect to Gatehouse's callback, which is then opened. Returns { callbackUrl, res } with
 * res Gatehouse's answer to the callback.
 */
async function atHome(jar, res, idp, email, what) {
  check(atAuthorize(res.location, idp), `${what}: Gatehouse sends the browser to ${idp.name}'s authorization endpoint`, res.location);
  checkUpstreamRequest(res.location, idp, email, what);
  const seen = idp.requests.length;
  const trip = await walk(jar, res, { stopAt: [CALLBACK] });
  if (!trip.stopped) fail(`${what}: ${idp.name} did not send the browser back to Gatehouse's callback`, { status: trip.res.status, url: trip.res.url, body: pageText(trip.res.text).slice(0, 800), hops: trip.hops, interactions: idp.interactions.slice(-3) });
  check(idp.requests.length === seen + 1, `${what}: ${idp.name} ran its login interaction for this request`, idp.interactions.slice(-3));
  const callbackUrl = new URL(trip.stopped);
  checkEqual(callbackUrl.searchParams.get('iss'), idp.issuer, `${what}: ${idp.name}'s authorization response carries its iss (RFC 9207)`);
  const back = await browse(jar, callbackUrl.href);
  return { callbackUrl, res: back };
}

// ------------------------------------------------------------------------------------ the run
const S = {}; // state shared between steps
const IDP = {}; // the home IdPs by key

/** Invites `email` (an e-mail is sent); returns the invitation. */
async function invite(email, name) {
  const res = await api('POST', '/invitations', {
    token: S.appToken,
    body: { invitedUserEmailAddress: email, invitedUserDisplayName: name, inviteRedirectUrl: S.redirectUrl, sendInvitationMessage: true },
  });
  if (res.status !== 201) fail(`POST /invitations for ${email} answered ${res.status}, want 201`, res.json ?? res.text);
  ok(`POST /invitations for ${email} answers 201 (status ${res.json.status})`);
  check(typeof res.json.inviteRedeemUrl === 'string' && res.json.inviteRedeemUrl.startsWith(`${ISSUER}/redeem?`), 'inviteRedeemUrl is the tenant\'s redeem link', res.json.inviteRedeemUrl);
  check(typeof res.json.invitedUser?.id === 'string', 'invitedUser.id is set', res.json.invitedUser);
  return res.json;
}

/** Opens an invitation link and accepts; returns the 303 that routes the invited address. */
async function openAndAccept(jar, invitation, what) {
  let res = await browse(jar, invitation.inviteRedeemUrl);
  checkEqual(res.status, 303, `${what}: the redeem link answers 303`);
  const trip = await walk(jar, res);
  res = trip.res;
  checkEqual(res.status, 200, `${what}: the invitation landing page`);
  check(pageText(res.text).includes(invitation.invitedUserEmailAddress), `${what}: the landing page names the invited address`, pageText(res.text).slice(0, 600));
  const form = journeyForm(res, `${what}: landing page`);
  note(`landing form step=${form.hidden.step}`);
  res = await submit(jar, form, {}, `${what}: accept`);
  return res;
}

/** A sign-in at Gatehouse for the app, up to the 303 towards a home IdP. */
async function startSignIn(jar, req, { email } = {}) {
  let res = await browse(jar, req.url.href);
  const trail = [`GET authorize -> ${res.status} ${res.location ?? ''}`];
  for (let i = 0; i < 6; i += 1) {
    if (res.status >= 300 && res.status < 400) {
      if (new URL(res.location).origin !== PUBLIC_ORIGIN) return { res, trail };
      res = await browse(jar, res.location);
      trail.push(`GET -> ${res.status} ${res.location ?? ''}`);
      continue;
    }
    if (res.status !== 200) fail(`unexpected HTTP ${res.status} at ${res.url}`, { trail, body: pageText(res.text).slice(0, 1500) });
    const form = journeyForm(res, `sign-in page ${res.url}`);
    if (form.hidden.step !== 'identify' || !email) return { page: res, form, trail };
    check(form.inputs.includes('email'), 'the identify page asks for the e-mail address');
    res = await submit(jar, form, { email }, 'identify');
    trail.push(`POST identify -> ${res.status} ${res.location}`);
  }
  fail('the sign-in did not leave Gatehouse within 6 requests', trail);
}

/**
 * A later sign-in of a guest through home-realm discovery, to the code at the app. `hint`:
 * send login_hint (else the address is typed on the identify page). Returns the tokens.
 */
async function guestSignIn(idp, email, what, { hint = true } = {}) {
  const jar = new CookieJar();
  const req = await authorizationRequest(S.app, hint ? { login_hint: email } : {});
  const out = await startSignIn(jar, req, { email });
  if (!out.res) fail(`${what}: Gatehouse showed the ${out.form.hidden.step} page instead of sending the browser to ${idp.name}`, out.trail);
  if (hint) check(!out.trail.some((t) => t.startsWith('POST identify')), `${what}: with login_hint, no identify page`, out.trail);
  const home = await atHome(jar, out.res, idp, email, what);
  check(home.res.status === 303 || home.res.status === 302, `${what}: Gatehouse's callback answers with a redirect`, { status: home.res.status, body: pageText(home.res.text).slice(0, 800) });
  const trip = await walk(jar, home.res, { stopAt: [CFG.app.redirect_uri] });
  if (!trip.stopped) {
    const forms = parseForms(trip.res.text, trip.res.url);
    fail(`${what}: after the callback the browser did not reach the app (HTTP ${trip.res.status} at ${trip.res.url})`, { step: forms[0]?.hidden?.step, text: pageText(trip.res.text).slice(0, 800) });
  }
  ok(`${what}: back at the app's redirect URI`);
  const landing = await browse(jar, trip.stopped);
  checkEqual(landing.status, 200, `${what}: the app's callback page`);
  return { tokens: await exchange(new URL(trip.stopped), req, what), jar };
}

function checkGuestClaims(c, idp, invitation, amr, what) {
  checkEqual(c.idp, idp.issuer, `${what}: idp is ${idp.name}'s issuer`);
  checkSame(c.amr, amr, `${what}: amr`);
  checkEqual(c.acct, 1, `${what}: acct is 1 (guest)`);
  checkEqual(c.oid, invitation.invitedUser.id, `${what}: oid is invitedUser.id`);
  checkEqual(c.tid, CFG.tenant.id, `${what}: tid is the resource tenant`);
  checkEqual(c.email, invitation.invitedUserEmailAddress, `${what}: email is the invited address`);
}

async function main() {
  await new Promise((resolve, reject) => {
    appServer.once('error', reject);
    appServer.listen(CFG.app_port, '127.0.0.1', resolve);
  });
  S.redirectUrl = `${APP_ORIGIN}/`;
  const G = CFG.guests;

  await step('idps', 'the home IdPs (oidc-provider 9) are up: discovery answers', [], async () => {
    IDP.fabrikam = await startHomeIdp({
      name: 'Fabrikam',
      port: CFG.idps.fabrikam.port,
      redirectUri: CALLBACK,
      accounts: [
        { email: G.gus.email, name: G.gus.name, emailVerified: true, amr: ['pwd', 'mfa'] },
        { email: G.vera.email, name: G.vera.name, emailVerified: false, amr: ['pwd'] },
      ],
    });
    IDP.northwind = await startHomeIdp({
      conformIdTokenClaims: false,
      name: 'Northwind',
      port: CFG.idps.northwind.port,
      redirectUri: CALLBACK,
      accounts: [{ email: G.noor.email, name: G.noor.name, emailVerified: true, amr: ['pwd', 'mfa'] }],
    });
    IDP.tailspin = await startHomeIdp({
      name: 'Tailspin',
      port: CFG.idps.tailspin.port,
      redirectUri: CALLBACK,
      clientAuth: 'client_secret_post',
      accounts: [{ email: G.tess.email, name: G.tess.name, emailVerified: true, amr: ['pwd'] }],
    });
    IDP.litware = await startHomeIdp({
      name: 'Litware',
      port: CFG.idps.litware.port,
      redirectUri: CALLBACK,
      clientAuth: 'private_key_jwt',
      clientJwksUri: `${ISSUER}/oauth2/jwks`,
      accounts: [{ email: G.liam.email, name: G.liam.name, emailVerified: true, amr: ['pwd'] }],
    });
    for (const idp of Object.values(IDP)) {
      const meta = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
      checkEqual(meta.issuer, idp.issuer, `${idp.name} discovery issuer`);
      check((meta.code_challenge_methods_supported ?? []).includes('S256') && meta.authorization_response_iss_parameter_supported === true, `${idp.name} supports PKCE S256 and sends iss in authorization responses`, meta);
      idp.authorizationEndpoint = meta.authorization_endpoint;
      checkSame(meta.token_endpoint_auth_methods_supported, [idp.clientAuth], `${idp.name}'s token endpoint takes only ${idp.clientAuth}`);
    }
  });

  await step('partners', 'the partners are registered with the CLI; partner list shows their domains', ['idps'], async () => {
    const slug = CFG.tenant.slug;
    const fab = IDP.fabrikam;
    const nw = IDP.northwind;
    // The IdPs' host (127.0.0.1) lies in no mail domain: without --attest-domains the binding is refused.
    const refused = await cliRefused(['partner', 'create', '--tenant', slug, '--name', 'Fabrikam', '--issuer', fab.issuer, '--client-id', fab.clientId, '--client-secret-stdin', '--domain', CFG.idps.fabrikam.domain], { stdin: `${fab.clientSecret}\n` });
    check(/not proven|attest/i.test(refused.stderr), `without --attest-domains the CLI refuses to bind ${CFG.idps.fabrikam.domain} (exit ${refused.status})`, refused.stderr.slice(-600));
    // An issuer whose discovery does not answer is refused.
    const dead = await cliRefused(['partner', 'create', '--tenant', slug, '--name', 'Nobody', '--issuer', `http://127.0.0.1:${CFG.idps.dead_port}`, '--client-id', 'x', '--domain', `nobody-${slug}.example`, '--attest-domains']);
    check(/cannot be reached|discovery/i.test(dead.stderr), `an issuer whose discovery does not answer is refused (exit ${dead.status})`, dead.stderr.slice(-600));
    const f = await cli(['partner', 'create', '--tenant', slug, '--name', 'Fabrikam', '--issuer', fab.issuer, '--client-id', fab.clientId, '--client-secret-stdin', '--domain', CFG.idps.fabrikam.domain, '--attest-domains'], { stdin: `${fab.clientSecret}\n` });
    checkEqual(f.issuer, fab.issuer, 'Fabrikam registered: issuer');
    checkEqual(f.trustMfa, false, 'Fabrikam: trustMfa');
    check(!JSON.stringify(f).includes(fab.clientSecret), 'the CLI output does not show the client secret');
    const n = await cli(['partner', 'create', '--tenant', slug, '--name', 'Northwind', '--issuer', nw.issuer, '--client-id', nw.clientId, '--client-secret-stdin', '--domain', CFG.idps.northwind.domain, '--attest-domains', '--trust-mfa'], { stdin: `${nw.clientSecret}\n` });
    checkEqual(n.trustMfa, true, 'Northwind registered: trustMfa');
    const list = (await cli(['partner', 'list', '--tenant', slug])).value;
    check(Array.isArray(list) && list.length === 2, 'partner list shows two partners', list);
    for (const [idp, domain] of [[fab, CFG.idps.fabrikam.domain], [nw, CFG.idps.northwind.domain]]) {
      const p = list.find((x) => x.issuer === idp.issuer);
      check(p, `partner list has ${idp.name} (${idp.issuer})`, list);
      checkEqual(p.clientId, idp.clientId, `${idp.name}: clientId`);
      checkSame(p.domains, [{ id: domain, proof: 'adminAttestation' }], `${idp.name}: domains with proof adminAttestation`);
    }
  });

  await step('discovery', 'openid-client discovery for the app; an app-only token with User.Invite.All', [], async () => {
    S.app = await discover(CFG.app);
    checkEqual(S.app.serverMetadata().issuer, ISSUER, 'discovery issuer');
    S.inviter = await discover(CFG.inviter);
    const tokens = await client.clientCredentialsGrant(S.inviter, { scope: 'User.Invite.All User.Read.All' });
    ok('openid-client clientCredentialsGrant succeeded');
    S.appToken = tokens.access_token;
  });

  await step('redeem', 'Gus (Fabrikam, verified address) redeems his invitation by signing in at Fabrikam', ['partners', 'discovery'], async () => {
    S.gus = await invite(G.gus.email, G.gus.name);
    const mail = await waitForMail((m) => (m.headers.to ?? '').toLowerCase().includes(G.gus.email.toLowerCase()), 'the invitation e-mail');
    ok(`the invitation e-mail to ${G.gus.email} is in the outbox (${mail.headers.subject})`);
    const jar = new CookieJar();
    const accepted = await openAndAccept(jar, S.gus, 'Gus');
    const home = await atHome(jar, accepted, IDP.fabrikam, G.gus.email, 'Gus redeeming');
    checkEqual(home.res.status, 303, 'Gus redeeming: the callback answers 303');
    const trip = await walk(jar, home.res);
    checkEqual(trip.res.status, 200, 'Gus redeeming: the consent page');
    const form = journeyForm(trip.res, 'redemption consent page');
    check(form.buttons.some((b) => b.name === 'decision' && b.value === 'allow'), 'the consent page has an allow button', form.buttons);
    note(`consent form step=${form.hidden.step}`);
    const done = await submit(jar, form, { decision: 'allow' }, 'consent');
    checkEqual(done.location, S.gus.inviteRedirectUrl, 'the final 303 goes to inviteRedirectUrl');
    const land = await browse(jar, done.location);
    checkEqual(land.status, 200, 'the browser lands on the app');
    checkEqual(appHits.at(-1), '/', 'the app served its landing page');
    const after = await api('GET', `/invitations/${S.gus.id}`, { token: S.appToken });
    checkEqual(after.json?.status, 'Completed', 'the invitation is now Completed');
    const user = await api('GET', `/users/${S.gus.invitedUser.id}`, { token: S.appToken });
    checkEqual(user.json?.externalUserState, 'Accepted', 'externalUserState is Accepted');
    note(`identities: ${JSON.stringify(user.json?.identities)}`);
  });

  await step('client-auth', 'Tess (Tailspin takes only client_secret_post) and Liam (Litware takes only private_key_jwt, verified against Gatehouse\'s JWKS) redeem at home', ['partners', 'discovery'], async () => {
    const slug = CFG.tenant.slug;
    const ts = IDP.tailspin;
    const lw = IDP.litware;
    const t = await cli(['partner', 'create', '--tenant', slug, '--name', 'Tailspin', '--issuer', ts.issuer, '--client-id', ts.clientId, '--client-secret-stdin', '--domain', CFG.idps.tailspin.domain, '--attest-domains'], { stdin: `${ts.clientSecret}\n` });
    checkEqual(t.clientAuthentication, 'client_secret_post', 'Tailspin registered with a secret: client_secret_post, chosen from its discovery');
    const l = await cli(['partner', 'create', '--tenant', slug, '--name', 'Litware', '--issuer', lw.issuer, '--client-id', lw.clientId, '--domain', CFG.idps.litware.domain, '--attest-domains']);
    checkEqual(l.clientAuthentication, 'private_key_jwt', 'Litware registered without a secret: private_key_jwt');
    for (const [idp, guest, who] of [[ts, G.tess, 'Tess'], [lw, G.liam, 'Liam']]) {
      // The running server learns of partners the CLI registered within its refresh interval.
      let route;
      for (let i = 0; i < 50; i += 1) {
        route = (await api('GET', `/policies/externalCollaboration/redemptionRoute?address=${encodeURIComponent(guest.email)}`, { token: S.appToken })).json;
        if (route?.route === 'partnerIdp') break;
        await new Promise((resolve) => { setTimeout(resolve, 200); });
      }
      checkEqual(route?.route, 'partnerIdp', `${who}'s address routes to ${idp.name}`);
      const invitation = await invite(guest.email, guest.name);
      const jar = new CookieJar();
      const accepted = await openAndAccept(jar, invitation, who);
      const home = await atHome(jar, accepted, idp, guest.email, `${who} redeeming`);
      checkSame(idp.tokenErrors, [], `${idp.name} accepted Gatehouse's client authentication (${idp.clientAuth})`);
      checkEqual(home.res.status, 303, `${who} redeeming: the callback answers 303`);
      const trip = await walk(jar, home.res);
      checkEqual(trip.res.status, 200, `${who} redeeming: the consent page`);
      const done = await submit(jar, journeyForm(trip.res, 'redemption consent page'), { decision: 'allow' }, 'consent');
      checkEqual(done.location, invitation.inviteRedirectUrl, `${who}: the final 303 goes to inviteRedirectUrl`);
      const after = await api('GET', `/invitations/${invitation.id}`, { token: S.appToken });
      checkEqual(after.json?.status, 'Completed', `${who}'s invitation is now Completed`);
    }
  });

  await step('unverified', 'Vera (Fabrikam says email_verified=false) cannot redeem: 403 "did not confirm"', ['partners', 'discovery'], async () => {
    S.vera = await invite(G.vera.email, G.vera.name);
    const jar = new CookieJar();
    const accepted = await openAndAccept(jar, S.vera, 'Vera');
    const home = await atHome(jar, accepted, IDP.fabrikam, G.vera.email, 'Vera redeeming');
    checkEqual(home.res.status, 403, 'Vera redeeming: the callback answers 403');
    check(/did not confirm/i.test(pageText(home.res.text)), 'the page says the partner "did not confirm" the invited address', pageText(home.res.text).slice(0, 600));
    check(!home.res.location, 'no redirect');
    const after = await api('GET', `/invitations/${S.vera.id}`, { token: S.appToken });
    checkEqual(after.json?.status, 'PendingAcceptance', 'Vera\'s invitation is still PendingAcceptance');
  });

  await step('held', 'holdForApproval (CLI): Vera\'s redemption waits for an administrator, who approves it through the API; then she signs in', ['unverified'], async () => {
    const settings = await cli(['tenant', 'settings', '--tenant', CFG.tenant.slug, '--unverified-address-redemption', 'holdForApproval']);
    checkEqual(settings.unverifiedAddressRedemption, 'holdForApproval', 'the CLI sets unverifiedAddressRedemption');
    // The running server sees the CLI's change when it next polls the configuration generation.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const jar = new CookieJar();
    const accepted = await openAndAccept(jar, S.vera, 'Vera, held');
    const home = await atHome(jar, accepted, IDP.fabrikam, G.vera.email, 'Vera, held');
    checkEqual(home.res.status, 303, 'Vera, held: the callback answers 303 (to the consent page)');
    const trip = await walk(jar, home.res);
    const form = journeyForm(trip.res, 'Vera, held: redemption consent page');
    // Post/Redirect/Get: the consent POST answers 303 to the transaction's page, which
    // says where things stand with 202 (and again on reload).
    const posted = await submit(jar, form, { decision: 'allow' }, 'Vera, held: consent');
    check(sameEndpoint(posted.location, form.action), 'the consent POST redirects back to the sign-in page, not to the app', posted.location);
    const waiting = await browse(jar, posted.location);
    checkEqual(waiting.status, 202, 'after consent: 202 Accepted');
    check(/Waiting for approval/i.test(pageText(waiting.text)), 'the page says "Waiting for approval"', pageText(waiting.text).slice(0, 600));
    check(!waiting.location, 'no redirect to the app');
    const reloaded = await browse(jar, posted.location);
    checkEqual(reloaded.status, 202, 'a reload shows the same page, posting nothing');
    const pending = await api('GET', `/invitations/${S.vera.id}`, { token: S.appToken });
    checkEqual(pending.json?.status, 'PendingAcceptance', 'Vera\'s invitation is still PendingAcceptance');

    const approver = await discover(CFG.approver);
    const { access_token: approverToken } = await client.clientCredentialsGrant(approver, { scope: 'User.ReadWrite.All' });
    const list = await api('GET', `/heldRedemptions?$filter=${encodeURIComponent("status eq 'pending'")}`, { token: S.appToken });
    checkEqual(list.status, 200, 'GET heldRedemptions with User.Read.All: 200');
    const held = (list.json?.value ?? []).filter((h) => h.invitationId === S.vera.id);
    checkEqual(held.length, 1, 'one pending request for Vera\'s invitation');
    checkEqual(held[0].issuer, IDP.fabrikam.issuer, 'the request names Fabrikam\'s issuer');
    checkEqual(held[0].assertedEmailAddress, G.vera.email.toLowerCase(), 'and the address Fabrikam asserted');
    checkEqual(held[0].assertedEmailVerified, false, 'which Fabrikam did not verify');
    const path = `/heldRedemptions/${held[0].id}/approve`;
    const refused = await api('POST', path, { token: S.appToken });
    checkEqual(refused.status, 403, 'approving with User.Invite.All only: 403');
    const approved = await api('POST', path, { token: approverToken });
    checkEqual(approved.status, 200, 'approving with User.ReadWrite.All: 200');
    checkEqual(approved.json?.status, 'approved', 'the request is approved');
    const again = await api('POST', path, { token: approverToken });
    checkEqual(again.status, 409, 'a second approval: 409');
    const after = await api('GET', `/invitations/${S.vera.id}`, { token: S.appToken });
    checkEqual(after.json?.status, 'Completed', 'Vera\'s invitation is now Completed');

    const { tokens } = await guestSignIn(IDP.fabrikam, G.vera.email, 'Vera, approved');
    checkGuestClaims(tokens.claims(), IDP.fabrikam, S.vera, ['fed'], 'Vera, approved');
    await cli(['tenant', 'settings', '--tenant', CFG.tenant.slug, '--unverified-address-redemption', 'refuse']);
  });

  await step('hrd', 'Gus signs in to the app: login_hint → Fabrikam (home-realm discovery) → code → ID token', ['redeem'], async () => {
    const { tokens } = await guestSignIn(IDP.fabrikam, G.gus.email, 'Gus, login_hint');
    const c = tokens.claims();
    // Fabrikam asserts amr ["pwd","mfa"], but is not trusted for MFA: only "fed".
    checkGuestClaims(c, IDP.fabrikam, S.gus, ['fed'], 'Gus, login_hint');
    const info = await client.fetchUserInfo(S.app, tokens.access_token, c.sub);
    ok('openid-client fetchUserInfo accepted the response (sub matches)');
    checkEqual(info.email, G.gus.email, 'userinfo email');
    S.gusSub = c.sub;
  });

  await step('identify', 'Gus types his address on the identify page: Gatehouse sends him to Fabrikam', ['redeem'], async () => {
    const { tokens } = await guestSignIn(IDP.fabrikam, G.gus.email, 'Gus, identify page', { hint: false });
    const c = tokens.claims();
    checkGuestClaims(c, IDP.fabrikam, S.gus, ['fed'], 'Gus, identify page');
    check(S.gusSub === undefined || c.sub === S.gusSub, 'the same sub as with login_hint');
  });

  await step('trusted', 'Noor (Northwind, trusted for MFA, upstream amr pwd+mfa) redeems and signs in: amr ["fed","mfa"]', ['partners', 'discovery'], async () => {
    S.noor = await invite(G.noor.email, G.noor.name);
    const jar = new CookieJar();
    const accepted = await openAndAccept(jar, S.noor, 'Noor');
    const home = await atHome(jar, accepted, IDP.northwind, G.noor.email, 'Noor redeeming');
    const trip = await walk(jar, home.res);
    const form = journeyForm(trip.res, 'Noor: redemption consent page');
    const done = await submit(jar, form, { decision: 'allow' }, 'Noor: consent');
    checkEqual(done.location, S.noor.inviteRedirectUrl, 'Noor: the final 303 goes to inviteRedirectUrl');
    const { tokens } = await guestSignIn(IDP.northwind, G.noor.email, 'Noor');
    checkGuestClaims(tokens.claims(), IDP.northwind, S.noor, ['fed', 'mfa'], 'Noor');
  });

  await step('policy', 'a policy requires MFA of GuestsOrExternalUsers (CLI, while the server runs)', ['discovery'], async () => {
    const policy = await cli(['policy', 'create', '--tenant', CFG.tenant.slug, '--name', 'Guests need MFA', '--user', 'GuestsOrExternalUsers', '--grant', 'mfa']);
    // The server caches policies; the CLI's change reaches it at its next configuration poll (2 s).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    check(typeof policy.id === 'string', `the policy was created (${policy.id})`, policy);
    check(JSON.stringify(policy).includes('GuestsOrExternalUsers') && JSON.stringify(policy).includes('mfa'), 'it covers GuestsOrExternalUsers and requires mfa', policy);
  });

  await step('mfa-untrusted', 'under the policy, Gus (untrusted partner) is challenged by Gatehouse after Fabrikam', ['policy', 'hrd'], async () => {
    const jar = new CookieJar();
    const req = await authorizationRequest(S.app, { login_hint: G.gus.email });
    const out = await startSignIn(jar, req, {});
    if (!out.res) fail(`Gatehouse showed the ${out.form.hidden.step} page instead of sending Gus to Fabrikam`, out.trail);
    const home = await atHome(jar, out.res, IDP.fabrikam, G.gus.email, 'Gus under the policy');
    checkEqual(home.res.status, 303, 'Gus under the policy: the callback answers 303');
    check(!sameEndpoint(home.res.location, CFG.app.redirect_uri), 'the callback does not send Gus to the app', home.res.location);
    const trip = await walk(jar, home.res, { stopAt: [CFG.app.redirect_uri] });
    if (trip.stopped) fail('Gus reached the app without Gatehouse\'s MFA', trip.stopped);
    checkEqual(trip.res.status, 200, 'Gatehouse shows a page');
    const form = journeyForm(trip.res, 'MFA page');
    checkEqual(form.hidden.step, 'mailbox_code', 'the page is Gatehouse\'s first-enrolment mailbox proof (step mailbox_code)');
    check(new URL(form.action).origin === PUBLIC_ORIGIN, 'the MFA page is Gatehouse\'s own');
    check(!appHits.some((h) => h.startsWith('/callback') && h.includes(req.state)), 'no code reached the app for this request');
  });

  await step('mfa-trusted', 'under the policy, Noor (trusted partner, upstream MFA) is not challenged: amr ["fed","mfa"]', ['policy', 'trusted'], async () => {
    const { tokens } = await guestSignIn(IDP.northwind, G.noor.email, 'Noor under the policy');
    checkGuestClaims(tokens.claims(), IDP.northwind, S.noor, ['fed', 'mfa'], 'Noor under the policy');
  });

  await step('disabled', 'Gus\'s account is disabled at Fabrikam: access_denied, Gatehouse 403 "did not sign you in", no token', ['redeem'], async () => {
    IDP.fabrikam.accounts.get(G.gus.email.toLowerCase()).enabled = false;
    const jar = new CookieJar();
    const req = await authorizationRequest(S.app, { login_hint: G.gus.email });
    const out = await startSignIn(jar, req, {});
    if (!out.res) fail(`Gatehouse showed the ${out.form.hidden.step} page instead of sending Gus to Fabrikam`, out.trail);
    const home = await atHome(jar, out.res, IDP.fabrikam, G.gus.email, 'disabled Gus');
    checkEqual(IDP.fabrikam.interactions.at(-1)?.result, 'access_denied', 'Fabrikam refused the sign-in');
    checkEqual(home.callbackUrl.searchParams.get('error'), 'access_denied', 'Fabrikam answered error=access_denied');
    check(!home.callbackUrl.searchParams.has('code'), 'and no code');
    checkEqual(home.res.status, 403, 'Gatehouse\'s callback answers 403');
    check(/did not sign you in/i.test(pageText(home.res.text)), 'the page says the organisation "did not sign you in"', pageText(home.res.text).slice(0, 600));
    check(!home.res.location, 'no redirect to the app');
    check(!appHits.some((h) => h.startsWith('/callback') && h.includes(req.state)), 'no code reached the app for this request');
  });
}

await runJourney('federation', main, () => {
  appServer.close();
  for (const idp of Object.values(IDP)) idp.close();
});
