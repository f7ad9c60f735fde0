// Benchmark peer for conformance/bench/token.sh: oidc-provider 9 serving the OAuth 2.0
// client_credentials grant with RFC 9068 JWT access tokens (RS256 or ES256), on 127.0.0.1 only.
//
// Usage: node server.mjs [port] [RS256|ES256]
//   env: PORT (default 3000), BENCH_ALG (default RS256), BENCH_CLIENT_ID (default "bench"),
//        BENCH_CLIENT_SECRET (default "bench-secret"), BENCH_RESOURCE (default "https://api.bench.test/")
// Prints one JSON line {"ready":true,...} on stdout once listening; nothing per request.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT || 3000);
const alg = String(process.argv[3] || process.env.BENCH_ALG || 'RS256').toUpperCase();
const clientId = process.env.BENCH_CLIENT_ID || 'bench';
const clientSecret = process.env.BENCH_CLIENT_SECRET || 'bench-secret';
const resource = process.env.BENCH_RESOURCE || 'https://api.bench.test/';

if (!['RS256', 'ES256'].includes(alg)) {
  console.error(`unsupported alg ${alg} (RS256 or ES256)`);
  process.exit(2);
}

// Signing keys are made fresh at every start, one of each kind; the resource server config
// below picks the one whose alg matches, via keystore.selectForSign({ alg }).
function privateJwk(type, options, jwkAlg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg: jwkAlg, use: 'sig', kid: `${jwkAlg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}` };
}
const keys = [
  privateJwk('rsa', { modulusLength: 2048 }, 'RS256'),
  privateJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
];

const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  }],
  jwks: { keys },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  // Never used by this grant; set so the provider does not print "must change" notices.
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // The only route to JWT access tokens for client_credentials: a resource server whose
    // accessTokenFormat is 'jwt'. defaultResource lets the client omit `resource`.
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== resource) throw new errors.InvalidTarget();
        return {
          scope: 'api:read',
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL || 300,
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL || 300,
    AuthorizationCode: 60,
    IdToken: 300,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
};

const provider = new Provider(issuer, configuration);

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const discovery = `${issuer}/.well-known/openid-configuration`;
  process.stdout.write(`${JSON.stringify({
    ready: true, pid: process.pid, issuer, discovery, client_id: clientId, alg, resource,
  })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
