// Benchmark peer for conformance/bench/federation.sh: oidc-provider 9 with its complete login
// flow, on 127.0.0.1 only. One instance plays two parts in the same run:
//   - the guests' home OpenID Provider, a partner IdP of the Gatehouse tenant (client
//     BENCH_GH_CLIENT_ID, redirect URI = the tenant's federation callback): flow A;
//   - an ordinary OP with a relying party of its own (client BENCH_RP_CLIENT_ID): flow B, the
//     baseline.
// Both clients are confidential (client_secret_basic), authorization_code + PKCE S256
// (required), RS256 ID tokens. Claims are put in the ID token (conformIdTokenClaims: false), so
// nobody needs a userinfo call. The signing key is a fresh RSA-2048 key at each start.
//
// The login and consent prompts are real pages with real form POSTs, as a person would see
// them (no devInteractions, no auto-answer on GET):
//   GET  /interaction/:uid          login page (login prefilled from login_hint) or consent page
//   POST /interaction/:uid/login    login=<address>&password=<password>: checked against the
//                                   account list (a plain constant-time comparison, no password
//                                   hashing, as in BENCH.md's "full login flow" figure), then
//                                   provider.interactionFinished({ login }) -> 303 /auth/:uid
//   POST /interaction/:uid/confirm  grants the requested scopes and claims (provider.Grant),
//                                   then interactionFinished({ consent }) -> 303 /auth/:uid
// A wrong password or an unknown account re-renders the login page (200); a POST whose prompt
// does not match answers 400. Accounts: user1@DOMAIN .. userN@DOMAIN, all with email_verified
// true and the same password.
//
// Usage: node login.mjs     (configuration in the environment; secrets never printed)
//   env: PORT, BENCH_DOMAIN, BENCH_ACCOUNTS (count), BENCH_PASSWORD,
//        BENCH_GH_CLIENT_ID, BENCH_GH_CLIENT_SECRET, BENCH_GH_REDIRECT_URI,
//        BENCH_RP_CLIENT_ID, BENCH_RP_CLIENT_SECRET, BENCH_RP_REDIRECT_URI
// Prints one JSON line {"ready":true,...} on stdout once listening; nothing per request.
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`login.mjs: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number(process.env.PORT || 3000);
const domain = process.env.BENCH_DOMAIN || 'partner.bench.example';
const accountCount = Number(process.env.BENCH_ACCOUNTS || 16);
const password = Buffer.from(required('BENCH_PASSWORD'));
const issuer = `http://127.0.0.1:${port}`;

// The accounts: user<i>@domain, sub "u<i>-<random>" (stable for this run).
const runTag = randomBytes(4).toString('hex');
const byLogin = new Map();
const bySub = new Map();
for (let i = 1; i <= accountCount; i += 1) {
  const account = { sub: `u${i}-${runTag}`, email: `user${i}@${domain}`, name: `Bench User ${i}` };
  byLogin.set(account.email, account);
  bySub.set(account.sub, account);
}

const client = (id, secret, redirectUri, name) => ({
  client_id: id,
  client_secret: secret,
  client_name: name,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
});

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [
    client(required('BENCH_GH_CLIENT_ID'), required('BENCH_GH_CLIENT_SECRET'), required('BENCH_GH_REDIRECT_URI'), 'Gatehouse'),
    client(required('BENCH_RP_CLIENT_ID'), required('BENCH_RP_CLIENT_SECRET'), required('BENCH_RP_REDIRECT_URI'), 'Bench RP'),
  ],
  jwks: { keys: [{ ...signingKey, kid: `rs256-${runTag}`, alg: 'RS256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  async findAccount(_ctx, sub) {
    const account = bySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: true, name: account.name };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `oidc-provider error: ${out.error}${out.error_description ? ` (${out.error_description})` : ''}`;
  },
});

// ------------------------------------------------------------------------------------ pages
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`);
}

function loginPage(res, uid, login, message) {
  page(res, 200, 'Sign in', `<h1>Sign in</h1>${message ? `<p class="error">${escapeHtml(message)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<input name="login" type="email" value="${escapeHtml(login ?? '')}" required>
<input name="password" type="password" required>
<button type="submit">Sign in</button></form>`);
}

function consentPage(res, uid, clientId, scopes) {
  page(res, 200, 'Authorize', `<h1>Authorize ${escapeHtml(clientId)}</h1>
<p>Scopes: ${escapeHtml(scopes.join(' '))}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Continue</button></form>`);
}

async function readForm(req) {
  let body = '';
  req.setEncoding('utf8');
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 8192) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function passwordMatches(given) {
  const buf = Buffer.from(given ?? '');
  return buf.length === password.length && timingSafeEqual(buf, password);
}

// ----------------------------------------------------------------------------- interactions
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, 'Error', '<p>interaction mismatch</p>');
    return;
  }
  const { prompt, params } = details;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return loginPage(res, uid, params.login_hint);
    if (prompt.name === 'consent') return consentPage(res, uid, params.client_id, prompt.details.missingOIDCScope ?? []);
    return page(res, 400, 'Error', `<p>unexpected prompt ${escapeHtml(prompt.name)}</p>`);
  }

  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const account = byLogin.get(String(form.get('login') ?? '').toLowerCase());
    if (!account || !passwordMatches(form.get('password'))) {
      return loginPage(res, uid, form.get('login'), 'Wrong address or password.');
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
  }

  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readForm(req);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  return page(res, 400, 'Error', `<p>${escapeHtml(req.method)} ${escapeHtml(action ?? '')} does not answer the ${escapeHtml(prompt.name)} prompt</p>`);
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?$/;
const handler = provider.callback();
const server = createServer((req, res) => {
  const m = INTERACTION.exec(req.url);
  if (m) {
    interaction(req, res, m[1], m[2]).catch((err) => {
      if (!res.headersSent) page(res, err.statusCode || 500, 'Error', `<p>${escapeHtml(err.message)}</p>`);
      else res.end();
    });
    return;
  }
  handler(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({
    ready: true, pid: process.pid, issuer, discovery: `${issuer}/.well-known/openid-configuration`, accounts: accountCount, domain,
  })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
