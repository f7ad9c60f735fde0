// Load driver of conformance/bench/password.sh: complete browser-style password sign-ins of
// member users at Gatehouse, N concurrent virtual users, each flow with a fresh cookie jar (so
// every flow is a first visit: no session, one password verification):
//
//   GET /oauth2/authorize (PKCE S256, state, nonce; no login_hint) -> Gatehouse's sign-in page
//   (identifier step) -> POST the e-mail -> the password step -> POST the password (Gatehouse
//   verifies it with argon2id) -> 303 to the app's redirect_uri with a code (not opened) ->
//   POST the token endpoint (client_secret_basic, code_verifier) -> ID and access tokens.
//
// Every flow is checked (a failed check is an error): exactly one identifier and one password
// POST, no other page (a consent page under load is an error: setup granted it once per user),
// the authorization response's state, iss (RFC 9207) and code, HTTP 200 at the token endpoint
// with a Bearer access token and an ID token whose iss, aud, nonce and email are right (decoded,
// not re-verified, under load). Before any load, `setup` signs every user in once (answering a
// consent page if Gatehouse shows one) and verifies one flow in full: the ID token's signature
// against the JWKS, iss, aud, nonce, email, and that it says a password was used.
//
// Usage (the config file is written by password.sh; it holds the client secret and the
// password, never printed):
//   node password.mjs setup CONFIG.json
//       one sign-in per user; one flow verified in full; prints one JSON line {"ok":true,...}
//   node password.mjs run CONFIG.json SECONDS
//       CONFIG.vus virtual users for SECONDS; prints one JSON line: flows, flows/s, p50/p99 ms,
//       errors, Gatehouse's CPU (utime+stime from /proc/<pid>/stat over the run) and peak RSS
//       (VmRSS sampled every 0.2 s), the driver's own CPU.
// Plain Node (node:http with keep-alive, node:crypto); no npm dependencies. Its requests carry
// what ../lib/browser.mjs derives as Chromium does: Fetch Metadata on every navigation, and on a
// form POST the Origin of the page that holds the form under that page's referrer policy.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { CookieJar, parseForms } from '../lib/browser.mjs';
import {
  agent, basic, b64url, browse, cpuSeconds as cpuSecondsOf, decodeJwt, FlowError, must, percentile, r2, request, rssKb, sameEndpoint,
  snippet, verifyIdTokenSignature, where,
} from './flowlib.mjs';


const MAX_HOPS = 12;

// ---------------------------------------------------------------------------------- config
const [command, configPath, ...rest] = process.argv.slice(2);
if (!['setup', 'run'].includes(command) || !configPath) {
  console.error('usage: node password.mjs setup CONFIG.json | run CONFIG.json SECONDS');
  process.exit(2);
}
const CFG = JSON.parse(readFileSync(configPath, 'utf8'));
const GH = CFG.gatehouse;
const USERS = CFG.users;
const GH_ORIGIN = new URL(GH.issuer).origin;

async function discovery() {
  const res = await request(`${GH.issuer}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } });
  must(res.status === 200, `discovery of ${GH.issuer} answered ${res.status}`);
  const meta = JSON.parse(res.text);
  must(meta.issuer === GH.issuer, `discovery names issuer ${meta.issuer}, want ${GH.issuer}`);
  return meta;
}

// ------------------------------------------------------------------------------------ flows
/**
 * Follows the browser from `res` through Gatehouse until a redirect to `stopAt` (not opened),
 * answering the identifier and password steps; a consent page only with `consent` (setup).
 */
async function walk(jar, res, { stopAt, email, consent, trace }) {
  const posts = { identify: 0, password: 0, consent: 0 };
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    if (res.status >= 300 && res.status < 400) {
      must(res.location, `HTTP ${res.status} without Location at ${where(res.url)}`);
      if (sameEndpoint(res.location, stopAt)) return { stopped: new URL(res.location), posts };
      must(new URL(res.location).origin === GH_ORIGIN, `redirected away from Gatehouse to ${where(res.location)}`);
      trace?.push(res.location);
      res = await browse(jar, res.location);
      continue;
    }
    must(res.status === 200 && new URL(res.url).origin === GH_ORIGIN, `unexpected HTTP ${res.status} at ${where(res.url)}: ${snippet(res)}`);
    const form = parseForms(res.text, res.url).find((f) => f.method === 'post' && f.hidden.step);
    must(form, `a page without a sign-in form at ${where(res.url)}: ${snippet(res)}`);
    const fields = { ...form.hidden };
    const step = form.hidden.step;
    if (step === 'identify') {
      must(form.inputs.includes('email'), 'the identifier step has no email input');
      fields.email = email;
    } else if (step === 'password') {
      must(form.inputs.includes('password'), 'the password step has no password input');
      fields.password = CFG.password;
    } else if (step === 'consent' && consent) {
      must(form.buttons.some((b) => b.name === 'decision' && b.value === 'allow'), 'the consent page has no allow button');
      fields.decision = 'allow';
    } else {
      throw new FlowError(`unexpected sign-in step '${step}' at ${where(res.url)}: ${snippet(res)}`);
    }
    posts[step] += 1;
    trace?.push(`POST ${form.action} (${step})`);
    res = await browse(jar, form.action, { form: fields });
    must(res.status === 303, `POST ${step} answered ${res.status}, want 303: ${snippet(res)}`);
  }
  throw new FlowError(`more than ${MAX_HOPS} requests`);
}


/** One complete sign-in of `email` with a fresh cookie jar; returns the decoded ID token. */
async function flow(meta, email, { consent = false, trace } = {}) {
  const jar = new CookieJar();
  const app = GH.app;
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const params = new URLSearchParams({
    client_id: app.client_id,
    redirect_uri: app.redirect_uri,
    response_type: 'code',
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  });
  const authorize = `${meta.authorization_endpoint}?${params}`;
  trace?.push(authorize);
  const start = await browse(jar, authorize);
  const walked = await walk(jar, start, { stopAt: app.redirect_uri, email, consent, trace });
  must(walked.posts.identify === 1 && walked.posts.password === 1,
    `${walked.posts.identify} identifier and ${walked.posts.password} password POSTs, want 1 and 1`);
  const q = walked.stopped.searchParams;
  must(!q.has('error'), `authorization error ${q.get('error')}: ${q.get('error_description') ?? ''}`);
  must(q.get('state') === state, 'the authorization response state does not match');
  must(q.get('iss') === GH.issuer, `the authorization response iss is ${q.get('iss')}, want ${GH.issuer}`);
  const code = q.get('code');
  must(code, 'no code in the authorization response');

  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: app.redirect_uri, code_verifier: verifier }).toString();
  const res = await request(meta.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic(app.client_id, app.client_secret), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
  });
  must(res.status === 200, `token endpoint answered ${res.status}: ${res.text.slice(0, 300)}`);
  const tokens = JSON.parse(res.text);
  must(String(tokens.token_type).toLowerCase() === 'bearer' && tokens.access_token, 'token response without a Bearer access token');
  const idToken = decodeJwt(tokens.id_token);
  const c = idToken.payload;
  must(c.iss === GH.issuer, `ID token iss ${c.iss}, want ${GH.issuer}`);
  must(c.aud === app.client_id || (Array.isArray(c.aud) && c.aud.includes(app.client_id)), 'ID token aud is not the client');
  must(c.nonce === nonce, 'ID token nonce does not match');
  must(String(c.email).toLowerCase() === email, `ID token email ${c.email}, want ${email}`);
  return { idToken, posts: walked.posts };
}

// -------------------------------------------------------------------------------- /proc stats
const CLK_TCK = Number(CFG.clk_tck || 100);
const cpuSeconds = (pid) => cpuSecondsOf(pid, CLK_TCK);

// ---------------------------------------------------------------------------------- run

async function run(seconds) {
  const meta = await discovery();
  const latencies = [];
  const errorSamples = [];
  let errors = 0;
  let peakRss = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, rssKb(GH.pid));
  };

  const cpu0 = cpuSeconds(GH.pid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  sample();
  const sampler = setInterval(sample, 200);

  async function virtualUser(i) {
    const email = USERS[i % USERS.length];
    while (performance.now() < end) {
      const started = performance.now();
      try {
        await flow(meta, email);
        latencies.push(performance.now() - started);
      } catch (err) {
        errors += 1;
        if (errorSamples.length < 5) errorSamples.push(String(err?.message ?? err));
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  await Promise.all(Array.from({ length: CFG.vus }, (_, i) => virtualUser(i)));

  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  sample();
  const self = process.cpuUsage(self0);
  const flows = latencies.length;
  const now = cpuSeconds(GH.pid);
  const used = now === null || cpu0 === null ? null : now - cpu0;
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    side: 'gatehouse',
    vus: CFG.vus,
    seconds,
    elapsed_s: r2(elapsed),
    flows,
    flows_per_s: Math.round((flows / elapsed) * 10) / 10,
    p50_ms: r2(percentile(latencies, 50)),
    p90_ms: r2(percentile(latencies, 90)),
    p99_ms: r2(percentile(latencies, 99)),
    max_ms: r2(latencies.at(-1) ?? null),
    errors,
    error_samples: errorSamples,
    cpu: {
      alive: now !== null,
      cpu_s: r2(used),
      cores: used === null ? null : r2(used / elapsed),
      cpu_ms_per_flow: used === null || flows === 0 ? null : r2((used * 1000) / flows),
      rss_peak_kb: peakRss,
    },
    driver_cores: r2((self.user + self.system) / 1e6 / elapsed),
  }));
}

// ---------------------------------------------------------------------------------- setup

/** A trace of URLs as paths, long random values elided: what the browser went through. */
const tracePath = (trace) => trace.map((u) => {
  const [method, url] = u.startsWith('POST ') ? ['POST ', u.slice(5)] : ['', u];
  const [href, note] = url.split(' ');
  const { pathname } = new URL(href);
  return `${method}${pathname.replace(new URL(GH.issuer).pathname, '/{tenant}').replace(/[A-Za-z0-9_-]{20,}/g, ':id')}${note ? ` ${note}` : ''}`;
});

async function setup() {
  const meta = await discovery();
  // Every user once: the first sign-in of a user to the app may ask for consent; setup grants it.
  let consents = 0;
  for (const email of USERS.slice(1)) {
    const { posts } = await flow(meta, email, { consent: true });
    consents += posts.consent;
  }
  // The first user's first flow, verified in full.
  const trace = [];
  const { idToken, posts } = await flow(meta, USERS[0], { consent: true, trace });
  consents += posts.consent;
  const c = idToken.payload;
  const now = Date.now() / 1000;
  must(typeof c.sub === 'string' && c.sub.length > 0, 'ID token without sub');
  must(c.exp > now && c.iat <= now + 60, `ID token exp ${c.exp} / iat ${c.iat} are not around now`);
  must(!c.amr || (Array.isArray(c.amr) && c.amr.includes('pwd')), `ID token amr ${JSON.stringify(c.amr)}: no pwd`);
  const signature = await verifyIdTokenSignature(idToken, meta);
  // Then a flow without consent must go through (what the load does).
  const again = await flow(meta, USERS[0]);
  must(again.posts.consent === 0, 'a consent page on the second sign-in');
  console.log(JSON.stringify({
    ok: true,
    users: USERS.length,
    consents_granted: consents,
    gatehouse: {
      signature,
      claims: { iss: c.iss, aud: c.aud, sub: c.sub, email: c.email, amr: c.amr ?? null, acct: c.acct ?? null, tid: c.tid ?? null },
      requests: trace.length,
      path: tracePath(trace),
    },
  }));
}

try {
  if (command === 'setup') await setup();
  else await run(Number(rest[0]));
  agent.destroy();
} catch (err) {
  console.error(`password.mjs ${command}: ${err instanceof FlowError ? err.message : err?.stack ?? err}`);
  agent.destroy();
  process.exit(1);
}
