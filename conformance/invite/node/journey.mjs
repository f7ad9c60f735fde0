// Gatehouse B2B conformance: a guest is invited through the Graph-shaped API, redeems the
// invitation from the e-mail a real SMTP server received, and signs in to an app that uses
// openid-client 6 (an OpenID-certified relying-party library); a member signs in beside it.
//
// The protocol work goes through openid-client's functional API. The hand-written HTTP is
// the "browser" (manual redirects, a small cookie jar, and the Fetch Metadata and Origin
// Chromium would send, derived from each page: it follows Gatehouse's redirects and fills in
// the forms as a person would; ../../lib/browser.mjs, with the checks and steps in
// ../../lib/checks.mjs) and the admin API calls (JSON over fetch, exactly as an
// Entra admin script would send them). Mail is read from the SMTP sink (smtp-sink.mjs) over
// its loopback JSON API.
//
// Usage: node journey.mjs CONFIG.json   (CONFIG is written by ../run.sh; its shape is there)
// Every step is a group of checks; a failed check ends its step, later steps that need it are
// reported as not run (and counted as failed), independent ones still run. The last line is
// "N passed, M failed" (checks). Exit status 0 only if nothing failed.

import { createServer } from 'node:http';
import * as client from 'openid-client';
import * as jose from 'jose';
import { CookieJar, attributes, headlessBrowser, pageText, parseForms, sameEndpoint } from '../../lib/browser.mjs';
import { check, checkEqual, fail, ok, readConfig, runJourney, step } from '../../lib/checks.mjs';

const CFG = readConfig('journey.mjs');
const ISSUER = CFG.issuer;
const PUBLIC_ORIGIN = new URL(CFG.public_url).origin;
const API = `${CFG.public_url}/${CFG.tenant.slug}/v1.0`;
const MAIL_WAIT_MS = 20_000;

// ------------------------------------------------------------------------ the relying party app
// The OIDC web app lives at http://127.0.0.1:APP_PORT: its home page ("/") is where invited
// guests land (inviteRedirectUrl), "/callback" its redirect URI. The browser really fetches
// them, so a guest's redirect lands on a listening app.
const APP_ORIGIN = CFG.web.origin;
const appHits = [];
const appServer = createServer((req, res) => {
  appHits.push(req.url);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>Partner portal</title><p>partner portal: ${req.url.replace(/[<>&"]/g, '')}</p>`);
});

// ------------------------------------------------------------------------ the headless browser
// The cookie jar, requests, redirects and HTML reading are ../../lib/browser.mjs; what a
// sign-in or redeem page must look like is checked here.
const { browse, follow } = headlessBrowser(PUBLIC_ORIGIN);

/** The text of a page's <h1>. */
function heading(html) {
  const m = html.match(/<h1[^>]*>([\s\S]*?)<\/h1>/i);
  return m ? pageText(m[1]) : null;
}

/** The single sign-in/redeem form of a page, which must carry tx, csrf and step. */
function journeyForm(page, what) {
  const forms = parseForms(page.text, page.url).filter((f) => f.method === 'post');
  if (forms.length !== 1) fail(`${what}: expected one POST form, found ${forms.length}`, page.text.slice(0, 2000));
  const form = forms[0];
  for (const field of ['tx', 'csrf', 'step']) {
    if (!form.hidden[field]) fail(`${what}: the form has no hidden ${field} field`, form);
  }
  return form;
}

/** POSTs a journey form; the answer must be a 303 (SECURITY A.11). */
async function submit(jar, form, extra, what) {
  const res = await browse(jar, form.action, { method: 'POST', form: { ...form.hidden, ...extra } });
  if (res.status !== 303) fail(`${what}: a POST that advances the journey must answer 303, got ${res.status}`, res.text.slice(0, 2000));
  if (!res.location) fail(`${what}: 303 without Location`);
  return res;
}

// ------------------------------------------------------------------------------ the SMTP sink
const mailCursor = new Map(); // address -> sequence number of the last message read for it
async function nextMail(to, what) {
  const after = mailCursor.get(to.toLowerCase()) ?? 0;
  const url = `${CFG.sink.http}/messages?to=${encodeURIComponent(to)}&after=${after}&wait=${MAIL_WAIT_MS}`;
  const { messages } = await (await fetch(url)).json();
  if (!messages.length) fail(`${what}: no e-mail to ${to} reached the SMTP sink within ${MAIL_WAIT_MS / 1000} s`);
  const mail = messages[0];
  mailCursor.set(to.toLowerCase(), mail.seq);
  return mail;
}
async function mailsTo(to) {
  const { messages } = await (await fetch(`${CFG.sink.http}/messages?to=${encodeURIComponent(to)}`)).json();
  return messages;
}
function passcodeFrom(mail, what) {
  const m = (mail.text ?? '').match(/(?:^|\s)(\d{6})(?:\s|$)/);
  if (!m) fail(`${what}: no six-digit code in the e-mail`, mail.text);
  return m[1];
}

// ---------------------------------------------------------------------------------- admin API
async function api(method, path, { token, body, contentType = 'application/json' } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = contentType;
  const response = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, headers: response.headers, json, text };
}
function checkGraphError(res, status, code, what) {
  checkEqual(res.status, status, `${what}: HTTP status`);
  check(res.json && typeof res.json.error === 'object', `${what}: Graph error envelope {"error": {...}}`, res.text);
  checkEqual(res.json.error.code, code, `${what}: error.code`);
  check(typeof res.json.error.message === 'string' && res.json.error.message.length > 0, `${what}: error.message is set (${JSON.stringify(res.json.error.message)})`);
}

// ---------------------------------------------------------------------------- OIDC helpers
async function discover(app) {
  return client.discovery(new URL(ISSUER), app.client_id, {}, client.ClientSecretBasic(app.client_secret), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

/**
 * Drives a browser from an authorization URL until Gatehouse sends it to the app's redirect
 * URI, which the browser then really opens. `signIn` is 'password' or 'code' (the guest's
 * "Email me a one-time code instead").
 */
async function signIn(jar, startUrl, { redirectUri, email, password, method, codeMailTo }) {
  let res = await browse(jar, startUrl.href);
  const trail = [`GET authorize -> ${res.status} ${res.location ?? ''}`];
  for (let i = 0; i < 12; i += 1) {
    if (res.status >= 300 && res.status < 400) {
      if (sameEndpoint(res.location, redirectUri)) {
        const landing = await browse(jar, res.location);
        if (landing.status !== 200) fail(`the app's redirect URI answered ${landing.status}`);
        return { url: new URL(res.location), trail };
      }
      res = await browse(jar, res.location);
      trail.push(`GET -> ${res.status} ${res.location ?? ''}`);
      continue;
    }
    if (res.status !== 200) fail(`unexpected HTTP ${res.status} at ${res.url}`, { trail, body: res.text.slice(0, 1500) });
    const form = journeyForm(res, `sign-in page ${res.url}`);
    let fields;
    switch (form.hidden.step) {
      case 'identify':
        check(form.inputs.includes('email'), 'sign-in page asks for the e-mail address');
        fields = { email };
        break;
      case 'password':
        if (method !== 'password') fail('a guest who signs in with mailed codes only is offered the code first, never a password page', { trail });
        fields = { password };
        break;
      case 'code': {
        check(form.inputs.includes('code'), 'the code page asks for the code');
        const mail = await nextMail(codeMailTo, 'sign-in passcode');
        checkEqual(mail.subject, `Your ${CFG.tenant.name} verification code`, 'sign-in passcode e-mail subject');
        fields = { code: passcodeFrom(mail, 'sign-in passcode') };
        break;
      }
      case 'consent':
        fields = { decision: 'allow' };
        break;
      default:
        fail(`unknown sign-in step ${form.hidden.step}`, res.text.slice(0, 1500));
    }
    res = await submit(jar, form, fields, `sign-in step ${form.hidden.step}`);
    trail.push(`POST ${form.hidden.step} -> ${res.status} ${res.location}`);
  }
  fail('the sign-in did not finish within 12 requests', trail);
}

async function authorizationRequest(config, app) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: app.redirect_uri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url, codeVerifier, state, nonce };
}

// ------------------------------------------------------------------------------------ the run
const S = {}; // state shared between steps

async function main() {
  await new Promise((resolve, reject) => {
    appServer.once('error', reject);
    appServer.listen(CFG.web.port, '127.0.0.1', resolve);
  });
  const guest = CFG.guest;
  const redirectUrl = `${APP_ORIGIN}/`;

  await step('discovery', 'discovery and an app-only token (client_credentials, User.Invite.All)', [], async () => {
    S.web = await discover(CFG.web);
    const meta = S.web.serverMetadata();
    checkEqual(meta.issuer, ISSUER, 'discovery issuer');
    S.jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    S.inviter = await discover(CFG.inviter);
    // Gatehouse's scope for app-only tokens is the list of permission names (no ".default").
    const tokens = await client.clientCredentialsGrant(S.inviter, { scope: 'User.Invite.All User.Read.All' });
    ok('openid-client clientCredentialsGrant succeeded');
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, S.jwks, { issuer: ISSUER, typ: 'at+jwt' });
    ok(`the app token verifies against jwks_uri (typ ${protectedHeader.typ})`);
    checkEqual(payload.tid, CFG.tenant.id, 'app token tid');
    check(Array.isArray(payload.roles) && payload.roles.includes('User.Invite.All'), 'app token roles include User.Invite.All', payload.roles);
    check(payload.oid === undefined, 'app token names no user (oid absent)');
    S.appToken = tokens.access_token;
  });

  await step('no-token', 'negative control: POST /invitations without a token is 401', [], async () => {
    const res = await api('POST', '/invitations', {
      body: { invitedUserEmailAddress: CFG.negatives.no_token_email, inviteRedirectUrl: redirectUrl, sendInvitationMessage: true },
    });
    checkGraphError(res, 401, 'InvalidAuthenticationToken', 'no bearer token');
    check(/^Bearer\b/i.test(res.headers.get('www-authenticate') ?? ''), `401 carries WWW-Authenticate: ${res.headers.get('www-authenticate')}`);
  });

  await step('evil-redirect', 'negative control: inviteRedirectUrl outside the tenant\'s apps is 400', ['discovery'], async () => {
    for (const evil of ['https://evil.example', 'https://evil.example/', `http://127.0.0.1:${CFG.web.port}@evil.example/`, `${APP_ORIGIN}.evil.example/`]) {
      const res = await api('POST', '/invitations', {
        token: S.appToken,
        body: { invitedUserEmailAddress: CFG.negatives.evil_email, inviteRedirectUrl: evil, sendInvitationMessage: true },
      });
      checkGraphError(res, 400, 'Request_BadRequest', `inviteRedirectUrl ${evil}`);
    }
  });

  await step('downscoped', 'negative control: an app token requested for User.Read.All only cannot invite (403)', ['discovery'], async () => {
    const narrow = await client.clientCredentialsGrant(S.inviter, { scope: 'User.Read.All' });
    const { payload } = await jose.jwtVerify(narrow.access_token, S.jwks, { issuer: ISSUER });
    check(Array.isArray(payload.roles) && payload.roles.length === 1 && payload.roles[0] === 'User.Read.All', `the narrowed token carries roles ${JSON.stringify(payload.roles)}`);
    const read = await api('GET', `/users?$top=1`, { token: narrow.access_token });
    checkEqual(read.status, 200, 'the narrowed token may read users (User.Read.All)');
    const res = await api('POST', '/invitations', {
      token: narrow.access_token,
      body: { invitedUserEmailAddress: CFG.negatives.downscoped_email, inviteRedirectUrl: redirectUrl, sendInvitationMessage: true },
    });
    if (res.status !== 403) {
      fail(
        `POST /invitations with a token whose roles are ["User.Read.All"] answered ${res.status}, want 403 Authorization_RequestDenied: ` +
          'the admin API authorises app-only callers by the permissions granted to the app, not by the roles of the token presented',
        res.json ?? res.text,
      );
    }
    checkGraphError(res, 403, 'Authorization_RequestDenied', 'down-scoped token');
  });

  await step('invite', 'POST /invitations (Entra shape) creates the invitation and the guest', ['discovery'], async () => {
    S.message = 'Welcome to the <b>supplier</b> portal & "Q4" plan <script>alert(1)</script>';
    const body = {
      invitedUserEmailAddress: guest.email,
      invitedUserDisplayName: guest.name,
      inviteRedirectUrl: redirectUrl,
      sendInvitationMessage: true,
      invitedUserMessageInfo: { customizedMessageBody: S.message, messageLanguage: 'en-US' },
    };
    const res = await api('POST', '/invitations', { token: S.appToken, body });
    if (res.status !== 201) fail(`POST /invitations answered ${res.status}, want 201 Created`, { request: body, response: res.json ?? res.text });
    ok('POST /invitations answers 201 Created');
    const inv = res.json;
    check(inv && typeof inv.id === 'string' && inv.id.length > 0, 'the invitation has an id', inv);
    checkEqual(inv.invitedUserEmailAddress, guest.email, 'invitedUserEmailAddress');
    checkEqual(inv.invitedUserDisplayName, guest.name, 'invitedUserDisplayName');
    checkEqual(inv.inviteRedirectUrl, redirectUrl, 'inviteRedirectUrl');
    checkEqual(inv.sendInvitationMessage, true, 'sendInvitationMessage');
    checkEqual(inv.status, 'PendingAcceptance', 'status');
    check(typeof inv.inviteRedeemUrl === 'string' && inv.inviteRedeemUrl.startsWith(`${ISSUER}/`), 'inviteRedeemUrl is a URL of the tenant', inv.inviteRedeemUrl);
    checkEqual(inv.invitedUserMessageInfo?.customizedMessageBody, S.message, 'invitedUserMessageInfo.customizedMessageBody echoed');
    checkEqual(inv.invitedUserMessageInfo?.messageLanguage, 'en-US', 'invitedUserMessageInfo.messageLanguage echoed');
    checkEqual(inv.invitedUserType, 'Guest', 'invitedUserType defaults to Guest');
    const user = inv.invitedUser;
    check(user && typeof user.id === 'string' && user.id.length > 0, 'invitedUser.id is set', user);
    checkEqual(user.userType, 'Guest', 'invitedUser.userType');
    checkEqual(user.externalUserState, 'PendingAcceptance', 'invitedUser.externalUserState');
    checkEqual(user.creationType, 'Invitation', 'invitedUser.creationType');
    checkEqual(user.userPrincipalName, `${guest.email.replace('@', '_')}#EXT#@${CFG.tenant.domain}`, 'invitedUser.userPrincipalName is the #EXT# UPN on the primary domain (B.4)');
    S.invitation = inv;
    const again = await api('GET', `/invitations/${inv.id}`, { token: S.appToken });
    checkEqual(again.status, 200, 'GET /invitations/{id}');
    checkEqual(again.json.status, 'PendingAcceptance', 'GET /invitations/{id} status');
  });

  await step('mail', 'the invitation e-mail reaches the SMTP server (B.2)', ['invite'], async () => {
    const mail = await nextMail(guest.email, 'invitation e-mail');
    S.inviteMailSeq = mail.seq;
    const org = CFG.tenant.name;
    const inviter = CFG.inviter.name;
    check(mail.envelope.rcptTo.includes(guest.email.toLowerCase()), 'SMTP envelope RCPT TO is the invited address', mail.envelope);
    check(mail.to.length === 1 && mail.to[0].address === guest.email.toLowerCase(), 'To: is the invited address', mail.to);
    checkEqual(mail.to[0].name, guest.name, 'To: carries the invitee display name');
    checkEqual(mail.subject, `${org} invited you to access its applications`, 'the subject names the inviting organisation');
    const text = mail.text ?? '';
    const html = mail.html ?? '';
    check(text.length > 0 && html.length > 0, 'the e-mail has a text and an HTML part');
    check(/only accept invitations you expect/i.test(text) && /only accept invitations you expect/i.test(html), 'phishing warning in both parts');
    // An application invited: the mail speaks as the organisation, never as a person.
    check(text.includes(org) && text.includes(CFG.tenant.domain) && !text.includes(inviter), 'the text names the organisation and its primary domain, not the inviting application', text);
    check(pageText(html).includes(org) && html.includes(CFG.tenant.domain) && !pageText(html).includes(inviter), 'the HTML names the organisation and its primary domain, not the inviting application');
    check(text.includes(S.message), 'the text part carries the personal message verbatim (plain text)');
    check(!html.includes('<b>supplier</b>') && !/<script>alert/i.test(html), 'the HTML part does not carry the message as markup');
    check(html.includes('&lt;b&gt;supplier&lt;') && html.includes('&lt;script&gt;alert(1)&lt;') && html.includes('&amp; '), 'the HTML part escapes the message (<, >, &)', html);
    check(pageText(html).includes(S.message), 'the HTML part shows the message as the text it is', pageText(html));
    const hrefs = [...html.matchAll(/<a\b([^>]*)>/gi)].map((m) => attributes(m[1]).href).filter(Boolean);
    check(hrefs.includes(S.invitation.inviteRedeemUrl), 'the HTML accept button links to inviteRedeemUrl', hrefs);
    check(text.includes(S.invitation.inviteRedeemUrl), 'the text part has the accept link');
    const block = hrefs.find((h) => h.startsWith(`${ISSUER}/invitations/block?b=`));
    check(block, 'the HTML has a "Block future invitations" link of the tenant', hrefs);
    check(text.includes(block), 'the text part has the same block link');
    check(new URL(block).searchParams.get('b') !== new URL(S.invitation.inviteRedeemUrl).searchParams.get('i'), 'the block link is not the redeem token');
    check(text.includes(redirectUrl), 'the e-mail shows where the guest will land (inviteRedirectUrl)');
    check(/has not provided a privacy statement/i.test(text), 'the e-mail says no privacy statement is configured (B.2)');
    S.blockUrl = block;
    // The block link opens a confirmation page (GET changes nothing).
    const blockPage = await browse(new CookieJar(), block);
    checkEqual(blockPage.status, 200, 'the block link opens a page');
    check(pageText(blockPage.text).includes(guest.email) && parseForms(blockPage.text, block).some((f) => f.method === 'post'), 'the block page names the address and asks to confirm with a POST', pageText(blockPage.text).slice(0, 500));
  });

  await step('redeem', 'redemption from the e-mail link: accept, passcode, skip password, consent', ['mail'], async () => {
    const jar = new CookieJar();
    S.redeemJar = jar;
    const link = S.invitation.inviteRedeemUrl;
    let res = await browse(jar, link);
    checkEqual(res.status, 303, 'the redeem link answers 303');
    check(res.location.startsWith(`${ISSUER}/login?tx=`), 'the redeem link leads to the tenant\'s journey page', res.location);
    res = await follow(jar, res);
    checkEqual(res.status, 200, 'the invitation landing page');
    const landing = pageText(res.text);
    check(landing.includes(CFG.tenant.name) && landing.includes(guest.email) && !landing.includes(CFG.inviter.name), 'the landing page says which organisation invited which address (an application invites as the organisation)', landing.slice(0, 600));
    check(landing.includes(redirectUrl), 'the landing page shows the destination');
    let form = journeyForm(res, 'landing page');
    checkEqual(form.hidden.step, 'accept', 'landing form step');
    res = await submit(jar, form, {}, 'accept');
    res = await follow(jar, res);
    form = journeyForm(res, 'code page');
    checkEqual(form.hidden.step, 'code', 'after accepting, the page asks for the mailed code');
    check(form.inputs.includes('code'), 'the code page has a code input');
    const codeMail = await nextMail(guest.email, 'redemption passcode');
    check(codeMail.seq > S.inviteMailSeq, 'a second e-mail arrived after the invitation');
    checkEqual(codeMail.subject, `Your ${CFG.tenant.name} verification code`, 'passcode e-mail subject');
    check(codeMail.envelope.rcptTo.length === 1 && codeMail.envelope.rcptTo[0] === guest.email.toLowerCase(), 'the passcode goes to the invited address only');
    // A wrong code first: the page says so and stays on the code step.
    const code = passcodeFrom(codeMail, 'redemption passcode');
    res = await browse(jar, form.action, { method: 'POST', form: { ...form.hidden, code: code === '000000' ? '111111' : '000000' } });
    checkEqual(res.status, 303, 'a wrong code answers with a redirect to its page (a reload never posts again)');
    res = await follow(jar, res);
    check(res.status === 200 && /not right/i.test(pageText(res.text)), 'a wrong code is refused on the same page', { status: res.status });
    form = journeyForm(res, 'code page after a wrong code');
    res = await submit(jar, form, { code }, 'code');
    res = await follow(jar, res);
    form = journeyForm(res, 'password page');
    checkEqual(form.hidden.step, 'password', 'after the code, the optional password step');
    const skip = form.buttons.find((b) => b.name === 'action' && b.value === 'skip_password');
    check(skip, 'the password step can be skipped', form.buttons);
    res = await submit(jar, form, { action: 'skip_password' }, 'skip password');
    res = await follow(jar, res);
    form = journeyForm(res, 'consent page');
    checkEqual(form.hidden.step, 'consent', 'then the review-permissions page');
    check(form.buttons.some((b) => b.name === 'decision' && b.value === 'allow'), 'consent page has an allow button');
    check(/will receive/i.test(pageText(res.text)) && pageText(res.text).includes(guest.email), 'consent page lists what the organisation receives');
    res = await submit(jar, form, { decision: 'allow' }, 'consent');
    checkEqual(res.location, S.invitation.inviteRedirectUrl, 'the final 303 goes to inviteRedirectUrl');
    check(jar.has('gh_session'), 'the guest is signed in (gh_session cookie)');
    const land = await browse(jar, res.location);
    checkEqual(land.status, 200, 'the browser lands on the app');
    checkEqual(appHits.at(-1), new URL(redirectUrl).pathname, 'the app served the landing page');
    const after = await api('GET', `/invitations/${S.invitation.id}`, { token: S.appToken });
    checkEqual(after.json?.status, 'Completed', 'the invitation is now Completed');
    check(typeof after.json?.redeemedDateTime === 'string', 'redeemedDateTime is set', after.json);
    const user = await api('GET', `/users/${S.invitation.invitedUser.id}`, { token: S.appToken });
    checkEqual(user.status, 200, 'GET /users/{id} (User.Read.All)');
    checkEqual(user.json.externalUserState, 'Accepted', 'externalUserState is Accepted (B.4)');
    check((user.json.identities ?? []).some((i) => i.issuer === 'mail' && i.issuerAssignedId === guest.email.toLowerCase()), 'the guest has an identity issued by "mail" (e-mail one-time passcode, B.4)', user.json.identities);
  });

  await step('reuse', 'the redeem link used a second time leads to sign-in at inviteRedirectUrl (Entra); an unknown link gets the generic invalid-link page', ['redeem'], async () => {
    const link = S.invitation.inviteRedeemUrl;
    const bogus = `${ISSUER}/redeem?i=${'A'.repeat(43)}`;
    const unknown = await browse(new CookieJar(), bogus);
    checkEqual(unknown.status, 400, 'an unknown link: HTTP status');
    checkEqual(heading(unknown.text), 'Invitation not available', 'an unknown link: heading');
    check(/cannot be used/i.test(pageText(unknown.text)), 'an unknown link: the page says the link cannot be used');
    for (const [label, jar] of [['a new browser', new CookieJar()], ['the guest\'s own browser', S.redeemJar]]) {
      const res = await browse(jar, link);
      checkEqual(res.status, 303, `second use in ${label}: HTTP status`);
      checkEqual(res.location, S.invitation.inviteRedirectUrl, `second use in ${label}: sent on to where the invitation leads`);
    }
  });

  await step('guest-signin', 'the guest signs in to the OIDC app with a one-time code (openid-client, code + PKCE + nonce)', ['redeem'], async () => {
    const jar = new CookieJar();
    const req = await authorizationRequest(S.web, CFG.web);
    const out = await signIn(jar, req.url, { redirectUri: CFG.web.redirect_uri, email: guest.email, method: 'code', codeMailTo: guest.email });
    checkEqual(out.url.searchParams.get('iss'), ISSUER, 'authorization response iss (RFC 9207)');
    const tokens = await client.authorizationCodeGrant(S.web, out.url, {
      pkceCodeVerifier: req.codeVerifier,
      expectedState: req.state,
      expectedNonce: req.nonce,
      idTokenExpected: true,
    });
    ok('openid-client authorizationCodeGrant accepted the response (ID token signature, iss, aud, nonce, state)');
    const c = tokens.claims();
    checkEqual(c.tid, CFG.tenant.id, 'tid is the resource tenant');
    checkEqual(c.oid, S.invitation.invitedUser.id, 'oid is invitedUser.id');
    checkEqual(c.idp, 'mail', 'idp is "mail" (e-mail one-time passcode, B.6)');
    checkEqual(c.acct, 1, 'acct is 1 (guest)');
    check(typeof c.upn === 'string' && c.upn.endsWith(`#EXT#@${CFG.tenant.domain}`), 'upn ends with #EXT#@<primary domain>', c.upn);
    checkEqual(c.upn, `${guest.email.replace('@', '_')}#EXT#@${CFG.tenant.domain}`, 'upn');
    checkEqual(c.email, guest.email, 'email is the invited address');
    checkEqual(c.email_verified, true, 'email_verified (the passcode proved the mailbox)');
    check(Array.isArray(c.amr) && c.amr.includes('email') && !c.amr.includes('pwd'), 'amr says e-mail code, not password', c.amr);
    const { payload: at } = await jose.jwtVerify(tokens.access_token, S.jwks, { issuer: ISSUER, typ: 'at+jwt' });
    checkEqual(at.acct, 1, 'access token acct');
    checkEqual(at.idp, 'mail', 'access token idp');
    checkEqual(at.oid, S.invitation.invitedUser.id, 'access token oid');
    const info = await client.fetchUserInfo(S.web, tokens.access_token, c.sub);
    ok('openid-client fetchUserInfo accepted the response (sub matches)');
    checkEqual(info.email, guest.email, 'userinfo email');
    S.guestSub = c.sub;
  });

  await step('member-signin', 'a member signs in with a password: acct 0, no #EXT#', ['discovery'], async () => {
    const jar = new CookieJar();
    const req = await authorizationRequest(S.web, CFG.web);
    const out = await signIn(jar, req.url, { redirectUri: CFG.web.redirect_uri, email: CFG.member.email, password: CFG.member.password, method: 'password' });
    const tokens = await client.authorizationCodeGrant(S.web, out.url, { pkceCodeVerifier: req.codeVerifier, expectedState: req.state, expectedNonce: req.nonce, idTokenExpected: true });
    ok('openid-client authorizationCodeGrant accepted the member\'s response');
    const c = tokens.claims();
    checkEqual(c.tid, CFG.tenant.id, 'member tid');
    checkEqual(c.oid, CFG.member.id, 'member oid');
    checkEqual(c.acct, 0, 'acct is 0 (member)');
    check(c.idp === undefined, 'no idp claim for a local password sign-in', c.idp);
    check(!JSON.stringify(c).includes('#EXT#'), 'no #EXT# anywhere in the member\'s ID token', { upn: c.upn, preferred_username: c.preferred_username });
    check(Array.isArray(c.amr) && c.amr.includes('pwd'), 'amr includes pwd', c.amr);
    check(S.guestSub === undefined || c.sub !== S.guestSub, 'member and guest have different sub');
    const info = await client.fetchUserInfo(S.web, tokens.access_token, c.sub);
    checkEqual(info.email, CFG.member.email, 'member userinfo email');
  });

  await step('no-message', 'an invitation without sendInvitationMessage sends no e-mail (Graph default false), My Apps redirect', ['discovery'], async () => {
    const myApps = `${ISSUER}/myapps`;
    const res = await api('POST', '/invitations', {
      token: S.appToken,
      body: { invitedUserEmailAddress: CFG.negatives.silent_email, inviteRedirectUrl: myApps },
    });
    checkEqual(res.status, 201, 'POST /invitations with the tenant\'s My Apps page as inviteRedirectUrl');
    checkEqual(res.json.sendInvitationMessage, false, 'sendInvitationMessage defaults to false');
    check(typeof res.json.inviteRedeemUrl === 'string', 'the caller still gets inviteRedeemUrl to send itself');
    S.silentInvitation = res.json;
    const again = await api('POST', '/invitations', {
      token: S.appToken,
      body: { invitedUserEmailAddress: CFG.member.email, inviteRedirectUrl: myApps },
    });
    checkGraphError(again, 409, 'Request_Conflict', 'inviting a member\'s address');
  });

  await step('links', 'the links an invitation hands out resolve: inviteRedeemUrl and the My Apps page', ['no-message'], async () => {
    // Opening the redeem link shows the landing page; it does not use the invitation up.
    const jar = new CookieJar();
    const link = S.silentInvitation.inviteRedeemUrl;
    const res = await browse(jar, link);
    if (res.status !== 303) fail(`GET inviteRedeemUrl answered ${res.status}${res.text ? '' : ' with an empty body'}, want 303 to the invitation landing page`, { url: link, status: res.status, body: res.text.slice(0, 300) });
    ok('GET inviteRedeemUrl answers 303');
    const landing = await follow(jar, res);
    checkEqual(landing.status, 200, 'the invitation landing page opens');
    checkEqual(journeyForm(landing, 'landing page').hidden.step, 'accept', 'it offers to accept');
    const myApps = await browse(new CookieJar(), `${ISSUER}/myapps`);
    if (myApps.status !== 303 || !myApps.location?.startsWith(`${ISSUER}/login?tx=`)) {
      fail(`GET ${ISSUER}/myapps (the tenant's My Apps page, an allowed inviteRedirectUrl) answered ${myApps.status}, want 303 to sign-in`, { status: myApps.status, location: myApps.location, body: myApps.text.slice(0, 300) });
    }
    ok('the My Apps page sends a browser without a session to sign in');
  });

  await step('cc', 'invitedUserMessageInfo.ccRecipients in Graph\'s recipient shape: the one cc gets the e-mail', ['discovery'], async () => {
    const cc = CFG.negatives.cc_email;
    const body = {
      invitedUserEmailAddress: CFG.negatives.cc_guest_email,
      inviteRedirectUrl: redirectUrl,
      sendInvitationMessage: true,
      invitedUserMessageInfo: { ccRecipients: [{ emailAddress: { address: cc, name: 'Olga Owner' } }] },
    };
    const res = await api('POST', '/invitations', { token: S.appToken, body });
    if (res.status !== 201) fail(`POST /invitations with Graph-shaped ccRecipients answered ${res.status}, want 201`, { request: body, response: res.json ?? res.text });
    ok('POST /invitations with ccRecipients [{emailAddress: {address, name}}] answers 201');
    checkEqual(res.json.invitedUserMessageInfo?.ccRecipients?.[0]?.emailAddress?.address, cc, 'ccRecipients echoed in Graph\'s shape');
    const mail = await nextMail(cc, 'cc of the invitation');
    check(mail.cc.some((a) => a.address === cc) && mail.to.some((a) => a.address === CFG.negatives.cc_guest_email.toLowerCase()), 'the e-mail is To: the invitee, Cc: the cc recipient', { to: mail.to, cc: mail.cc });
    check(mail.envelope.rcptTo.includes(cc), 'SMTP envelope includes the cc recipient', mail.envelope);
  });

  await step('no-stray-mail', 'nothing was mailed for refused or silent invitations', ['discovery'], async () => {
    // Give the outbox worker time to send anything it (wrongly) queued.
    await new Promise((r) => setTimeout(r, 1500));
    for (const address of [CFG.negatives.no_token_email, CFG.negatives.evil_email, CFG.negatives.silent_email, CFG.member.email]) {
      const got = await mailsTo(address);
      checkEqual(got.length, 0, `no e-mail to ${address}`);
    }
  });
}

await runJourney('invite', main, () => appServer.close());
