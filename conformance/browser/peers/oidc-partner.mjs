//! A partner organisation's OpenID Provider for the browser suite (journeys/federation-oidc.mjs):
//! oidc-provider 9 (OpenID-certified, by the author of openid-client) with its own sign-in and
//! consent pages, the ones a guest's browser really sees at home.
//!
//! What the suite configures (nothing here is Gatehouse code):
//!   - one confidential client for Gatehouse: client_secret_basic, authorization_code, PKCE
//!     required, the tenant's federation callback as the only redirect URI, RS256 ID tokens;
//!   - a fresh RS256 signing key per run;
//!   - the accounts (CONFIG.accounts: email, password, name, emailVerified): findAccount returns
//!     sub, email, email_verified and name; the sign-in's amr is ["pwd"];
//!   - the interaction pages, as oidc-provider expects a deployment to write them (its
//!     devInteractions are for development only): GET /interaction/:uid shows
//!       * the sign-in page: a form with the e-mail address (prefilled from login_hint) and the
//!         password, posted to /interaction/:uid/login, which checks the password (a wrong one
//!         shows the page again with an error) and finishes the login prompt;
//!       * the consent page: what Gatehouse asks for, with "Allow" (POST /interaction/:uid/confirm,
//!         which grants the requested scopes and claims) and "Cancel" (/interaction/:uid/abort,
//!         access_denied).
//!     Plain HTML without scripts; the suite screenshots these pages, it does not audit them.
//!   - GET /_test/requests: the authorization parameters seen at the sign-in prompts (JSON), for
//!     the journey's checks of what Gatehouse sent.
//!
//! Usage: node oidc-partner.mjs CONFIG.json   (CONFIG: name, port, issuer, client_id,
//! client_secret, redirect_uri, accounts). Prints {"ready":true,…} once it listens. The issuer is
//! http://localhost:PORT, another site than Gatehouse's http://127.0.0.1:… (ports are not part of
//! a site), so the browser's trips between them cross sites as they do in production.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const CFG = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byEmail = new Map();
const bySub = new Map();
for (const a of CFG.accounts) {
  const account = { sub: randomUUID(), ...a };
  byEmail.set(a.email.toLowerCase(), account);
  bySub.set(account.sub, account);
}
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(CFG.issuer, {
  clients: [{
    client_id: CFG.client_id,
    client_secret: CFG.client_secret,
    client_name: 'Gatehouse (Contoso Browser)',
    redirect_uris: [CFG.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [{ ...signingKey, kid: `partner-${randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name'] },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const account = bySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: account.emailVerified, name: account.name };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = layout('Error', `<h1>Something went wrong</h1><p id="error">${esc(out.error)}${out.error_description ? `: ${esc(out.error_description)}` : ''}</p>`);
  },
});
provider.proxy = false;

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function layout(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>${esc(title)} · ${esc(CFG.name)}</title></head><body><main><p>${esc(CFG.name)} (oidc-provider 9)</p>${body}</main></body></html>`;
}
function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}
async function form(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16_384) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function loginPage(uid, hint, error) {
  return layout('Sign in', `<h1>Sign in to ${esc(CFG.name)}</h1>`
    + (error ? `<p role="alert" id="login-error">${esc(error)}</p>` : '')
    + `<form method="post" action="/interaction/${esc(uid)}/login">`
    + `<p><label for="email">E-mail address</label> <input id="email" name="email" type="email" autocomplete="username" value="${esc(hint)}" required></p>`
    + '<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>'
    + '<p><button type="submit">Sign in</button></p></form>');
}

const requests = [];

async function interaction(req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (details.uid !== uid) return send(res, 400, layout('Error', '<h1>This page belongs to another sign-in</h1>'));
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      requests.push({ ...params });
      return send(res, 200, loginPage(uid, params.login_hint ?? ''));
    }
    if (prompt.name === 'consent') {
      const scopes = [...(prompt.details.missingOIDCScope ?? [])];
      return send(res, 200, layout('Allow access', `<h1>Allow Gatehouse (Contoso Browser) to sign you in?</h1>`
        + `<p>Signed in as ${esc(bySub.get(session.accountId)?.email)}. The app asks for: <span id="scopes">${esc(scopes.join(' '))}</span>.</p>`
        + `<form method="post" action="/interaction/${esc(uid)}/confirm"><button type="submit" id="allow">Allow</button></form>`
        + `<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" id="cancel">Cancel</button></form>`));
    }
    return send(res, 501, layout('Error', `<h1>unexpected prompt ${esc(prompt.name)}</h1>`));
  }
  if (req.method !== 'POST') return send(res, 405, layout('Error', '<h1>Method not allowed</h1>'));
  const body = await form(req);
  if (action === 'login' && prompt.name === 'login') {
    const account = byEmail.get(String(body.email ?? '').toLowerCase());
    if (!account || account.password !== body.password) return send(res, 200, loginPage(uid, body.email ?? '', 'Wrong e-mail address or password.'));
    return provider.interactionFinished(req, res, { login: { accountId: account.sub, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person cancelled' }, { mergeWithLastSubmission: false });
  }
  return send(res, 400, layout('Error', '<h1>Unexpected form</h1>'));
}

const handler = provider.callback();
const server = createServer((req, res) => {
  const url = new URL(req.url, CFG.issuer);
  console.error(`${req.method} ${url.pathname}`);
  if (url.pathname.startsWith('/interaction/')) {
    interaction(req, res, url).catch((err) => {
      console.error(`interaction failed: ${err?.stack ?? err}`);
      if (!res.headersSent) send(res, 500, layout('Error', `<h1>Sign-in failed</h1><p id="error">${esc(err?.message)}</p>`));
      else res.end();
    });
    return;
  }
  if (url.pathname === '/_test/requests') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(requests));
    return;
  }
  handler(req, res);
});
server.listen(CFG.port, '127.0.0.1', () => console.log(JSON.stringify({ ready: true, issuer: CFG.issuer })));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
