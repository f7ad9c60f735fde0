// Load driver of conformance/bench/federation.sh: federated guest sign-ins through Gatehouse
// (flow A) against oidc-provider's own complete login flow (flow B), each a whole browser-style
// flow by N concurrent virtual users, each flow with a fresh cookie jar.
//
//   flow A (side "gatehouse"): GET Gatehouse /oauth2/authorize (PKCE S256, state, nonce,
//     login_hint = an already-redeemed guest) -> home-realm discovery redirects to the partner,
//     oidc-provider (oidc-provider/login.mjs) -> its login page, POST login, its consent page,
//     POST confirm -> Gatehouse's partner callback (Gatehouse redeems the partner's code and
//     checks its ID token server-side) -> redirect to the app's redirect_uri with a code ->
//     POST Gatehouse's token endpoint (client_secret_basic, code_verifier) -> an ID token.
//   flow B (side "oidc-provider"): the same at oidc-provider alone, for its own relying party:
//     GET /auth -> login page, POST login, consent page, POST confirm -> code -> POST /token.
//
// Every flow is checked (a failed check is an error): the partner ran exactly one login and one
// consent POST, no Gatehouse page was shown in flow A, the authorization response carries the
// expected state and iss and a code, the token response is 200 with an ID token whose iss, aud,
// nonce and email are right. Before any load, `setup` also verifies one flow per side in full:
// the ID token's signature against the side's JWKS, and for Gatehouse the guest's claims
// (idp = the partner, acct 1, amr ["fed"], tid, email) and that the partner was sent login_hint.
//
// Usage (the config file is written by federation.sh; it holds client secrets, never printed):
//   node federation.mjs setup CONFIG.json
//       invites and redeems the guests (admin API + browser), verifies one flow per side;
//       prints one JSON line {"ok":true,...}
//   node federation.mjs run CONFIG.json SIDE SECONDS
//       SIDE gatehouse|oidc-provider: CONFIG.vus virtual users for SECONDS; prints one JSON
//       line: flows, flows/s, p50/p99 ms, errors, and the servers' CPU (utime+stime from
//       /proc/<pid>/stat over the run) and peak RSS (VmRSS sampled every 0.2 s).
// Plain Node (node:http with keep-alive, node:crypto); no npm dependencies. Its browser requests
// carry what ../lib/browser.mjs derives as Chromium does: Fetch Metadata on every navigation, and
// on a form POST the Origin of the page that holds the form under that page's referrer policy.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { CookieJar, parseForms } from '../lib/browser.mjs';
import {
  agent, basic, b64url, browse, cpuSeconds as cpuSecondsOf, decodeJwt, FlowError, must, percentile, r2, request, rssKb, sameEndpoint,
  snippet, verifyIdTokenSignature, where,
} from './flowlib.mjs';


const MAX_HOPS = 20;

// ---------------------------------------------------------------------------------- config
const [command, configPath, ...rest] = process.argv.slice(2);
if (!['setup', 'run'].includes(command) || !configPath) {
  console.error('usage: node federation.mjs setup CONFIG.json | run CONFIG.json gatehouse|oidc-provider SECONDS');
  process.exit(2);
}
const CFG = JSON.parse(readFileSync(configPath, 'utf8'));
const PEER = CFG.peer;
const GH = CFG.gatehouse;
const ACCOUNTS = Array.from({ length: CFG.guests }, (_, i) => `user${i + 1}@${PEER.domain}`);

async function discovery(issuer) {
  const res = await request(`${issuer}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } });
  must(res.status === 200, `discovery of ${issuer} answered ${res.status}`);
  const meta = JSON.parse(res.text);
  must(meta.issuer === issuer, `discovery of ${issuer} names issuer ${meta.issuer}`);
  return meta;
}

/** The two sides: where flows start, whose client, who issues the code. */
async function sides() {
  const out = {};
  const peerMeta = await discovery(PEER.issuer);
  out['oidc-provider'] = {
    name: 'oidc-provider', issuer: PEER.issuer, meta: peerMeta, client: PEER.rp, loginHint: false,
  };
  if (GH?.enabled) {
    out.gatehouse = {
      name: 'gatehouse', issuer: GH.issuer, meta: await discovery(GH.issuer), client: GH.app, loginHint: true,
    };
  }
  return { sides: out, peerMeta };
}

// ------------------------------------------------------------------------------------ flows
const PEER_ORIGIN = new URL(PEER.issuer).origin;
const GH_ORIGIN = GH?.enabled ? new URL(GH.issuer).origin : null;

/**
 * Follows the browser from `res` through Gatehouse and the partner until a redirect to
 * `stopAt` (not opened). Answers the partner's login and consent pages with their form POSTs.
 * A Gatehouse page is an error unless `onGatehousePage(jar, res)` handles it (redemption).
 */
async function walk(jar, res, { stopAt, email, onGatehousePage, trace }) {
  let logins = 0;
  let consents = 0;
  let pages = 0;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    if (res.status >= 300 && res.status < 400) {
      must(res.location, `HTTP ${res.status} without Location at ${where(res.url)}`);
      if (sameEndpoint(res.location, stopAt)) return { stopped: new URL(res.location), logins, consents };
      must(new URL(res.location).hostname === '127.0.0.1', `redirected off the loopback to ${where(res.location)}`);
      trace?.push(res.location);
      res = await browse(jar, res.location);
      continue;
    }
    const origin = new URL(res.url).origin;
    if (res.status === 200 && origin === PEER_ORIGIN && res.url.includes('/interaction/')) {
      const action = /<form[^>]*action="([^"]+)"/i.exec(res.text)?.[1];
      must(action, `the partner's page ${where(res.url)} has no form: ${snippet(res)}`);
      const url = new URL(action, res.url).href;
      let form;
      if (action.endsWith('/login')) {
        logins += 1;
        form = { login: email, password: PEER.password };
      } else if (action.endsWith('/confirm')) {
        consents += 1;
        form = {};
      } else {
        throw new FlowError(`the partner's page posts to ${action}`);
      }
      trace?.push(`POST ${url}`);
      res = await browse(jar, url, { form });
      must(res.status === 303, `POST ${action} at the partner answered ${res.status}: ${snippet(res)}`);
      continue;
    }
    if (res.status === 200 && origin === GH_ORIGIN && onGatehousePage && pages < 4) {
      pages += 1;
      res = await onGatehousePage(jar, res);
      continue;
    }
    throw new FlowError(`unexpected HTTP ${res.status} at ${where(res.url)}: ${snippet(res)}`);
  }
  throw new FlowError(`more than ${MAX_HOPS} redirects`);
}


/**
 * One complete sign-in on `side` for `email`, with a fresh cookie jar. Returns the decoded ID
 * token (and, with `trace`, the URLs the browser visited).
 */
async function flow(side, email, { trace } = {}) {
  const jar = new CookieJar();
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const params = new URLSearchParams({
    client_id: side.client.client_id,
    redirect_uri: side.client.redirect_uri,
    response_type: 'code',
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  });
  if (side.loginHint) params.set('login_hint', email);
  const authorize = `${side.meta.authorization_endpoint}?${params}`;
  trace?.push(authorize);
  const start = await browse(jar, authorize);
  const walked = await walk(jar, start, { stopAt: side.client.redirect_uri, email, trace });
  must(walked.logins === 1 && walked.consents === 1, `the partner ran ${walked.logins} login and ${walked.consents} consent POSTs, want 1 and 1`);
  const q = walked.stopped.searchParams;
  must(!q.has('error'), `authorization error ${q.get('error')}: ${q.get('error_description') ?? ''}`);
  must(q.get('state') === state, 'the authorization response state does not match');
  must(q.get('iss') === side.issuer, `the authorization response iss is ${q.get('iss')}, want ${side.issuer}`);
  const code = q.get('code');
  must(code, 'no code in the authorization response');

  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: side.client.redirect_uri, code_verifier: verifier }).toString();
  const res = await request(side.meta.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic(side.client.client_id, side.client.client_secret), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
  });
  must(res.status === 200, `token endpoint answered ${res.status}: ${res.text.slice(0, 300)}`);
  const tokens = JSON.parse(res.text);
  must(String(tokens.token_type).toLowerCase() === 'bearer' && tokens.access_token, 'token response without a Bearer access token');
  const idToken = decodeJwt(tokens.id_token);
  const c = idToken.payload;
  must(c.iss === side.issuer, `ID token iss ${c.iss}, want ${side.issuer}`);
  must(c.aud === side.client.client_id || (Array.isArray(c.aud) && c.aud.includes(side.client.client_id)), 'ID token aud is not the client');
  must(c.nonce === nonce, 'ID token nonce does not match');
  must(String(c.email).toLowerCase() === email, `ID token email ${c.email}, want ${email}`);
  return { idToken, trace };
}

// -------------------------------------------------------------------------------- /proc stats
const CLK_TCK = Number(CFG.clk_tck || 100);
const cpuSeconds = (pid) => cpuSecondsOf(pid, CLK_TCK);

// ---------------------------------------------------------------------------------- run

async function run(sideName, seconds) {
  const { sides: all } = await sides();
  const side = all[sideName];
  must(side, `unknown or disabled side ${sideName}`);
  const pids = { gatehouse: GH?.enabled ? GH.pid : null, peer: PEER.pid };
  const latencies = [];
  const errorSamples = [];
  let errors = 0;
  const peakRss = { gatehouse: 0, peer: 0 };
  const sample = () => {
    for (const [k, pid] of Object.entries(pids)) if (pid) peakRss[k] = Math.max(peakRss[k], rssKb(pid));
  };

  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? cpuSeconds(pid) : null]));
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  sample();
  const sampler = setInterval(sample, 200);

  async function virtualUser(i) {
    const email = ACCOUNTS[i % ACCOUNTS.length];
    while (performance.now() < end) {
      const started = performance.now();
      try {
        await flow(side, email);
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
  const rate = flows / elapsed;
  const cpu = {};
  for (const [k, pid] of Object.entries(pids)) {
    if (!pid) continue;
    const now = cpuSeconds(pid);
    const used = now === null || cpu0[k] === null ? null : now - cpu0[k];
    cpu[k] = {
      alive: now !== null,
      cores: used === null ? null : r2(used / elapsed),
      cpu_ms_per_flow: used === null || flows === 0 ? null : r2((used * 1000) / flows),
      rss_peak_kb: peakRss[k],
    };
  }
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    side: sideName,
    vus: CFG.vus,
    seconds,
    elapsed_s: r2(elapsed),
    flows,
    flows_per_s: Math.round(rate * 10) / 10,
    p50_ms: r2(percentile(latencies, 50)),
    p90_ms: r2(percentile(latencies, 90)),
    p99_ms: r2(percentile(latencies, 99)),
    max_ms: r2(latencies.at(-1) ?? null),
    errors,
    error_samples: errorSamples,
    cpu,
    driver_cores: r2((self.user + self.system) / 1e6 / elapsed),
  }));
}

// ---------------------------------------------------------------------------------- setup

async function appToken(meta) {
  const res = await request(meta.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic(GH.inviter.client_id, GH.inviter.client_secret), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'User.Invite.All User.Read.All' }).toString(),
  });
  must(res.status === 200, `app-only token: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  return JSON.parse(res.text).access_token;
}

async function api(method, path, token, body) {
  const res = await request(`${GH.issuer}/v1.0${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  let json = null;
  try {
    json = JSON.parse(res.text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text: res.text };
}

/** Gatehouse's pages during a redemption: the landing page (accept) and the consent page (allow). */
async function redemptionPage(jar, res) {
  const forms = parseForms(res.text, res.url).filter((f) => f.method === 'post');
  must(forms.length === 1, `redemption: expected one form at ${where(res.url)}, found ${forms.length}: ${snippet(res)}`);
  const form = forms[0];
  const allow = form.buttons.find((b) => b.name === 'decision' && b.value === 'allow');
  const out = await browse(jar, form.action, { form: { ...form.hidden, ...(allow ? { decision: 'allow' } : {}) } });
  must(out.status === 303, `redemption: POST ${new URL(form.action).pathname} (step ${form.hidden.step}) answered ${out.status}: ${snippet(out)}`);
  return out;
}

/** A trace of URLs as paths, long random values elided: what the browser went through. */
const tracePath = (trace) => trace.map((u) => {
  const [method, url] = u.startsWith('POST ') ? ['POST ', u.slice(5)] : ['', u];
  const { origin, pathname } = new URL(url);
  const who = origin === PEER_ORIGIN ? 'oidc-provider' : origin === GH_ORIGIN ? 'gatehouse' : origin;
  const path = origin === GH_ORIGIN ? pathname.replace(new URL(GH.issuer).pathname, '/{tenant}') : pathname;
  return `${method}${who} ${path.replace(/[A-Za-z0-9_-]{20,}/g, ':id')}`;
});

async function setup() {
  const { sides: all } = await sides();
  const checks = {};
  if (GH?.enabled) {
    const gh = all.gatehouse;
    const token = await appToken(gh.meta);
    const redirectUrl = `${new URL(GH.app.redirect_uri).origin}/`;
    const guests = [];
    for (const email of ACCOUNTS) {
      const inv = await api('POST', '/invitations', token, {
        invitedUserEmailAddress: email, invitedUserDisplayName: email.split('@')[0], inviteRedirectUrl: redirectUrl, sendInvitationMessage: false,
      });
      must(inv.status === 201, `POST /invitations for ${email}: HTTP ${inv.status}: ${inv.text.slice(0, 300)}`);
      const jar = new CookieJar();
      const first = await browse(jar, inv.json.inviteRedeemUrl);
      const walked = await walk(jar, first, { stopAt: redirectUrl, email, onGatehousePage: redemptionPage });
      must(walked.logins === 1, `redemption of ${email}: the partner ran ${walked.logins} logins`);
      const after = await api('GET', `/invitations/${inv.json.id}`, token);
      must(after.json?.status === 'Completed', `invitation of ${email} is ${after.json?.status}, want Completed`);
      guests.push({ email, oid: inv.json.invitedUser?.id });
    }
    checks.redeemed = guests.length;

    // One guest sign-in, verified in full.
    const trace = [];
    const { idToken } = await flow(gh, guests[0].email, { trace });
    const upstream = trace.find((u) => u.startsWith(all['oidc-provider'].meta.authorization_endpoint));
    must(upstream, `Gatehouse did not send the browser to the partner's authorization endpoint: ${tracePath(trace).join(' -> ')}`);
    const uq = new URL(upstream).searchParams;
    must(uq.get('login_hint') === guests[0].email, 'Gatehouse did not pass login_hint to the partner');
    must(uq.get('code_challenge_method') === 'S256', 'Gatehouse did not use PKCE S256 at the partner');
    const c = idToken.payload;
    must(c.idp === PEER.issuer, `ID token idp ${c.idp}, want the partner ${PEER.issuer}`);
    must(c.acct === 1, `ID token acct ${c.acct}, want 1 (guest)`);
    must(JSON.stringify(c.amr) === '["fed"]', `ID token amr ${JSON.stringify(c.amr)}, want ["fed"]`);
    must(c.tid === GH.tenant_id, `ID token tid ${c.tid}, want ${GH.tenant_id}`);
    must(!guests[0].oid || c.oid === guests[0].oid, `ID token oid ${c.oid}, want ${guests[0].oid}`);
    checks.gatehouse = {
      signature: await verifyIdTokenSignature(idToken, gh.meta),
      claims: { idp: c.idp, acct: c.acct, amr: c.amr, tid: c.tid, email: c.email },
      requests: trace.length,
      path: tracePath(trace),
    };
  }
  const op = all['oidc-provider'];
  const trace = [];
  const { idToken } = await flow(op, ACCOUNTS[0], { trace });
  checks.oidc_provider = {
    signature: await verifyIdTokenSignature(idToken, op.meta),
    claims: { sub: idToken.payload.sub, email: idToken.payload.email, email_verified: idToken.payload.email_verified },
    requests: trace.length,
    path: tracePath(trace),
  };
  console.log(JSON.stringify({ ok: true, ...checks }));
}

try {
  if (command === 'setup') await setup();
  else await run(rest[0], Number(rest[1]));
  agent.destroy();
} catch (err) {
  console.error(`federation.mjs ${command}: ${err instanceof FlowError ? err.message : err?.stack ?? err}`);
  agent.destroy();
  process.exit(1);
}
