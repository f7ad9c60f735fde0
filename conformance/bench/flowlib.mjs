// Shared by the browser-style load drivers (federation.mjs, password.mjs): HTTP over one
// keep-alive agent through lib/browser.mjs (the headers Chromium sends, cookies in and out),
// small URL and JWT helpers, ID-token signature checks against a JWKS, and the /proc readings
// (CPU seconds, RSS) the drivers report.

import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import { pageText, received, requestHeaders, send } from '../lib/browser.mjs';

const REQUEST_TIMEOUT_MS = 15_000;

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One HTTP request over the keep-alive agent (lib/browser.mjs's send: redirects not followed). */
const request = (url, options = {}) => send(url, { ...options, agent, timeoutMs: REQUEST_TIMEOUT_MS });

/**
 * A browser request: the headers lib/browser.mjs derives as Chromium does (Fetch Metadata; on a
 * form POST the Origin of the page that holds the form), cookies in and out, the page the jar's
 * tab shows; `location` made absolute.
 */
async function browse(jar, url, { form } = {}) {
  const method = form ? 'POST' : 'GET';
  const headers = requestHeaders(jar, url, { method });
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await request(url, { method, headers, body });
  received(jar, url, res);
  res.location = res.headers.location ? new URL(res.headers.location, url).href : null;
  return res;
}

const sameEndpoint = (a, b) => {
  const x = new URL(a);
  const y = new URL(b);
  return x.origin === y.origin && x.pathname === y.pathname;
};
const snippet = (res) => pageText(res.text ?? '').slice(0, 300);
/** A URL without its query (codes and states stay out of the messages). */
const where = (url) => {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
};
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

class FlowError extends Error {}
function must(condition, message) {
  if (!condition) throw new FlowError(message);
}

function decodeJwt(jwt) {
  const parts = String(jwt ?? '').split('.');
  must(parts.length === 3, 'id_token is not a compact JWS');
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    signingInput: `${parts[0]}.${parts[1]}`,
    signature: Buffer.from(parts[2], 'base64url'),
  };
}

/** CPU seconds (utime + stime) of a process, with `clkTck` ticks per second; null if it is gone. */
function cpuSeconds(pid, clkTck) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clkTck; // utime + stime
  } catch {
    return null;
  }
}
function rssKb(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const r2 = (x) => (x === null || Number.isNaN(x) ? null : Math.round(x * 100) / 100);

async function verifyIdTokenSignature(idToken, meta) {
  const res = await request(meta.jwks_uri, { headers: { accept: 'application/json' } });
  must(res.status === 200, `JWKS ${meta.jwks_uri} answered ${res.status}`);
  const { keys } = JSON.parse(res.text);
  const { alg, kid } = idToken.header;
  must(['RS256', 'ES256'].includes(alg), `ID token alg ${alg}`);
  const jwk = keys.find((k) => k.kid === kid);
  must(jwk, `no key ${kid} in ${meta.jwks_uri}`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const good = verifySignature('sha256', Buffer.from(idToken.signingInput), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, idToken.signature);
  must(good, 'the ID token signature does not verify against the JWKS');
  return `${alg} kid ${kid}`;
}

export {
  agent,
  request,
  browse,
  sameEndpoint,
  snippet,
  where,
  b64url,
  basic,
  FlowError,
  must,
  decodeJwt,
  cpuSeconds,
  rssKb,
  percentile,
  r2,
  verifyIdTokenSignature,
};
