// Gatehouse selective-access conformance, OIDC side: an app built on openid-client 6 (an
// OpenID-certified relying-party library) authorises on the `roles` and `groups` claims of the
// tokens Gatehouse issues. Everything is set up through the Graph API as an administrator would:
// the app's roles and groupMembershipClaims with `PATCH /applications/{id}`, a security group
// and its member with `POST /groups` and `members/$ref`, the role given to the group with
// `POST /groups/{id}/appRoleAssignments`.
//
// Checks: the app's /approve page answers 403 before the group holds Approver and 200 after;
// the ID and access tokens carry `roles` and `groups`; removing the member from the group
// changes the next (refreshed) token, and /approve answers 403 again. The state the SAML side
// needs (role id, group id) is written to the config's state_file for ../python/sp.py.
//
// Usage: node journey.mjs CONFIG.json   (written by ../run.sh; the state goes to its state_file)

import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import * as client from 'openid-client';
import { headlessBrowser, pageText, parseForms, sameEndpoint } from '../../lib/browser.mjs';
import { check, checkEqual, fail, ok, readConfig, runJourney, step } from '../../lib/checks.mjs';

const CFG = readConfig('journey.mjs');
const STATE_FILE = CFG.state_file;
const ISSUER = CFG.issuer;
const GRAPH = `${ISSUER}/v1.0`;
const PUBLIC_ORIGIN = new URL(CFG.public_url).origin;
const APPROVER = '6f0e3f0e-7d3a-4c59-9b1e-5a3c2e1d0a01';
const { browse, follow } = headlessBrowser(PUBLIC_ORIGIN);
const state = {};

// ------------------------------------------------------------------------------ the Graph API
let adminToken;
async function graph(method, path, body, expected) {
  const res = await fetch(`${GRAPH}/${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status !== expected) fail(`${method} ${path}: expected ${expected}, got ${res.status}`, text.slice(0, 1500));
  ok(`${method} /v1.0/${path.replace(/[0-9a-f-]{36}/g, '{id}')} -> ${res.status}`);
  return text ? JSON.parse(text) : null;
}

// ------------------------------------------------------------------------------ the app (RP)
// The app keeps the last tokens it received and authorises its /approve page on them.
let session = null;
const appServer = createServer((req, res) => {
  const url = new URL(req.url, CFG.rp.origin);
  if (url.pathname === '/approve') {
    const roles = session?.claims?.roles ?? [];
    const allowed = roles.includes('Approver');
    res.writeHead(allowed ? 200 : 403, { 'content-type': 'text/plain' });
    res.end(allowed ? 'approved' : 'forbidden: the Approver role is needed');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end('<!doctype html><title>Expenses</title><p>callback</p>');
});

async function approve() {
  const res = await fetch(`${CFG.rp.origin}/approve`);
  return res.status;
}

// -------------------------------------------------------------------------------- signing in
async function signIn(config) {
  const jar = new (await import('../../lib/browser.mjs')).CookieJar();
  const codeVerifier = client.randomPKCECodeVerifier();
  const expectedState = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: CFG.rp.redirect_uri,
    scope: 'openid profile offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state: expectedState,
    nonce,
  });
  let res = await browse(jar, url.href);
  for (let i = 0; i < 10; i += 1) {
    if (res.status >= 300 && res.status < 400) {
      if (sameEndpoint(res.location, CFG.rp.redirect_uri)) {
        await browse(jar, res.location);
        const tokens = await client.authorizationCodeGrant(config, new URL(res.location), {
          pkceCodeVerifier: codeVerifier, expectedState, expectedNonce: nonce, idTokenExpected: true,
        });
        ok('openid-client accepted the code exchange (PKCE, state, nonce, ID token signature, iss, aud)');
        return tokens;
      }
      res = await follow(jar, res);
      continue;
    }
    if (res.status !== 200) fail(`HTTP ${res.status} at ${res.url}`, pageText(res.text).slice(0, 1500));
    const form = parseForms(res.text, res.url).find((f) => f.method === 'post' && f.hidden.step);
    if (!form) fail('no sign-in form', pageText(res.text).slice(0, 1500));
    const fields = form.hidden.step === 'identify' ? { email: CFG.user.email } : { password: CFG.user.password };
    res = await browse(jar, form.action, { method: 'POST', form: { ...form.hidden, ...fields } });
  }
  fail('the sign-in did not finish within 10 requests');
}

function keep(tokens) {
  const claims = tokens.claims();
  const access = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
  session = { tokens, claims, access };
  return session;
}

async function main() {
  await new Promise((resolve) => appServer.listen(CFG.rp.port, '127.0.0.1', resolve));
  const admin = await client.discovery(new URL(ISSUER), CFG.admin.client_id, {}, client.ClientSecretBasic(CFG.admin.client_secret), { execute: [client.allowInsecureRequests] });
  const rp = await client.discovery(new URL(ISSUER), CFG.rp.client_id, {}, client.ClientSecretBasic(CFG.rp.client_secret), { execute: [client.allowInsecureRequests] });

  await step('setup', 'roles, a group and its assignment through the Graph API', [], async () => {
    adminToken = (await client.clientCredentialsGrant(admin)).access_token;
    check(adminToken, 'an admin token from the client-credentials grant');
    const roles = [{ id: APPROVER, value: 'Approver', displayName: 'Approver', description: 'Approves expenses', allowedMemberTypes: ['User'], isEnabled: true }];
    for (const id of [CFG.rp.id, CFG.sp.id]) {
      await graph('PATCH', `applications/${id}`, { appRoles: roles, groupMembershipClaims: 'SecurityGroup' }, 204);
      const app = await graph('GET', `applications/${id}`, null, 200);
      checkEqual(app.appRoles?.[0]?.value, 'Approver', 'the app defines Approver');
    }
    const group = await graph('POST', 'groups', { displayName: 'Expense approvers', mailEnabled: false, mailNickname: 'approvers', securityEnabled: true }, 201);
    state.group = group.id;
    state.approver = APPROVER;
    await graph('POST', `groups/${group.id}/members/$ref`, { '@odata.id': `${GRAPH}/directoryObjects/${CFG.user.id}` }, 204);
    writeFileSync(STATE_FILE, JSON.stringify(state));
  });

  await step('without', 'without the role, the app refuses', ['setup'], async () => {
    const s = keep(await signIn(rp));
    check(!s.claims.roles, 'no roles claim yet', s.claims);
    checkEqual(JSON.stringify(s.claims.groups), JSON.stringify([state.group]), 'groups lists the security group');
    checkEqual(await approve(), 403, 'the app answers 403 without Approver');
  });

  await step('with', 'the group holds Approver: the app admits', ['setup'], async () => {
    for (const id of [CFG.rp.id, CFG.sp.id]) {
      await graph('POST', `groups/${state.group}/appRoleAssignments`, { principalId: state.group, resourceId: id, appRoleId: APPROVER }, 201);
    }
    const s = keep(await signIn(rp));
    checkEqual(JSON.stringify(s.claims.roles), '["Approver"]', 'the ID token carries roles');
    checkEqual(JSON.stringify(s.access.roles), '["Approver"]', 'the access token carries roles');
    checkEqual(await approve(), 200, 'the app answers 200 with Approver');
  });

  await step('removed', 'the member leaves the group: the next token changes', ['with'], async () => {
    await graph('DELETE', `groups/${state.group}/members/${CFG.user.id}/$ref`, null, 204);
    const next = await client.refreshTokenGrant(rp, session.tokens.refresh_token);
    ok('openid-client accepted the refreshed tokens');
    const s = keep(next);
    check(!s.claims.roles, 'the refreshed ID token has no roles', s.claims);
    check(!s.access.roles, 'the refreshed access token has no roles', s.access);
    check(!s.claims.groups || s.claims.groups.length === 0, 'nor the group', s.claims);
    checkEqual(await approve(), 403, 'the app answers 403 again');
    // Back in the group, for the SAML side.
    await graph('POST', `groups/${state.group}/members/$ref`, { '@odata.id': `${GRAPH}/directoryObjects/${CFG.user.id}` }, 204);
  });
}

runJourney('access', main, () => appServer.close());
