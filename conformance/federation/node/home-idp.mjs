// The guests' home identity providers of the federation conformance suite: oidc-provider 9 (an
// OpenID-certified OpenID Provider for Node, by the author of openid-client), one instance per
// partner organisation, each on its own loopback port.
//
// Nothing here is Gatehouse code. What the suite configures:
//   - one confidential client for Gatehouse: authorization_code + code, the tenant's callback
//     as the only redirect URI, PKCE required (S256 is the only method oidc-provider accepts),
//     and one client authentication method, the only one the token endpoint takes and its
//     discovery lists: client_secret_basic (default), client_secret_post (as Okta-style
//     providers), or private_key_jwt with Gatehouse's JWKS as the client's jwks_uri (no secret
//     at all: oidc-provider fetches the keys and verifies the client assertion);
//   - a fresh RS256 signing key per run;
//   - the accounts: findAccount decides sub, email, email_verified and name; the amr of a
//     sign-in is what the login result says (oidc-provider puts it in the ID token because
//     the claims configuration lists `amr` under the openid scope);
//   - conformIdTokenClaims as the caller asks: with oidc-provider's default (true) the scope
//     claims (email, email_verified) are only at userinfo, which Gatehouse then calls; with
//     false they are in the ID token too (see README.md, "Configuration of the peers");
//   - the interactions: instead of the login and consent pages a person would see, a small
//     handler answers GET /interaction/:uid itself through provider.interactionDetails /
//     provider.interactionFinished: it logs in as the account the login_hint names (as a
//     person who typed that address would) and grants the requested scopes and claims, or
//     finishes with error=access_denied when the account is disabled or unknown.
//
// Every authorization request that reaches an interaction is recorded (its parameters), so
// the journey can check what Gatehouse sent.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

/**
 * Starts one home IdP. `accounts` is a list of { email, name, emailVerified, amr, enabled };
 * each gets a random sub. Returns { issuer, clientId, clientSecret, accounts (by email),
 * requests (the authorization parameters seen at interactions), interactions (what the
 * handler did), close() }.
 */
export async function startHomeIdp({ name, port, redirectUri, accounts, conformIdTokenClaims = true, clientAuth = 'client_secret_basic', clientJwksUri }) {
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = `gatehouse-${randomUUID()}`;
  const usesSecret = clientAuth.startsWith('client_secret');
  const clientSecret = usesSecret ? randomBytes(32).toString('base64url') : undefined;
  const byEmail = new Map();
  const bySub = new Map();
  for (const a of accounts) {
    const account = { sub: randomUUID(), enabled: true, amr: ['pwd'], ...a };
    byEmail.set(a.email.toLowerCase(), account);
    bySub.set(account.sub, account);
  }

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        ...(usesSecret ? { client_secret: clientSecret } : { jwks_uri: clientJwksUri }),
        client_name: 'Gatehouse',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: clientAuth,
        id_token_signed_response_alg: 'RS256',
      },
    ],
    clientAuthMethods: [clientAuth],
    // oidc-provider refuses to fetch from special-use addresses (its SSRF guard); Gatehouse's
    // JWKS (the private_key_jwt client's jwks_uri) is on loopback in this suite, so the guard's
    // dispatcher is dropped here, as GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS does on
    // Gatehouse's side.
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
    jwks: { keys: [{ ...signingKey, kid: `${name.toLowerCase()}-${randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    conformIdTokenClaims,
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const account = bySub.get(sub);
      if (!account || !account.enabled) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: account.email, email_verified: account.emailVerified, name: account.name };
        },
      };
    },
    renderError(ctx, out) {
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = `${name} error: ${out.error}${out.error_description ? ` (${out.error_description})` : ''}`;
    },
  });

  const requests = [];
  const interactions = [];
  // Why token requests were refused (a client authentication oidc-provider did not accept).
  const tokenErrors = [];
  provider.on('grant.error', (_ctx, err) => {
    const causes = [];
    for (let c = err.cause; c && causes.length < 4; c = c.cause) causes.push(c.error_description ?? c.message ?? String(c));
    tokenErrors.push(`${err.error}: ${err.error_description ?? ''}${causes.length ? ` [${causes.join(' <- ')}]` : ''}`);
  });

  /** The login and consent pages, answered without a person. */
  async function interaction(req, res) {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      requests.push({ ...params });
      const account = byEmail.get(String(params.login_hint ?? '').toLowerCase());
      if (!account || !account.enabled) {
        interactions.push({ prompt: 'login', login_hint: params.login_hint, result: 'access_denied' });
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the account is disabled or unknown' }, { mergeWithLastSubmission: false });
        return;
      }
      interactions.push({ prompt: 'login', login_hint: params.login_hint, result: 'login', sub: account.sub });
      await provider.interactionFinished(req, res, { login: { accountId: account.sub, amr: account.amr } }, { mergeWithLastSubmission: false });
      return;
    }
    if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      const grantId = await grant.save();
      interactions.push({ prompt: 'consent', scopes: prompt.details.missingOIDCScope ?? [] });
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`unexpected prompt ${prompt.name}`);
  }

  const handler = provider.callback();
  const server = createServer((req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(req, res).catch((err) => {
        interactions.push({ error: String(err) });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${name} interaction failed: ${err}`);
      });
      return;
    }
    handler(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  return {
    name,
    issuer,
    clientId,
    clientSecret,
    clientAuth,
    accounts: byEmail,
    requests,
    interactions,
    tokenErrors,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}
