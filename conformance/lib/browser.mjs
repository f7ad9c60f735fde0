//! The headless browser of the Node conformance peers (conformance/oidc/openid-client/rp.mjs,
//! conformance/invite/node/journey.mjs, conformance/mfa/node/journey.mjs,
//! conformance/federation/node/journey.mjs, conformance/saml/node-saml/sp.mjs) and of the
//! benchmarks (conformance/bench/federation.mjs over its keep-alive agent, and the sign-in of
//! conformance/bench/samlify/bench.js).
//!
//! Plain Node (node:http, URL), no npm dependencies: each peer imports it by relative path,
//! beside the protocol library it pins in its own node_modules. It is what a person's browser
//! does and nothing more: a small cookie jar, one request at a time with redirects left to the
//! caller, following redirects inside the identity provider, and reading forms and visible text
//! out of HTML. It makes no checks of its own; the peers decide what a page must look like.
//! Requests go out over node:http, not fetch: Node's fetch (undici) overwrites Sec-Fetch-Mode
//! with `cors`, which no browser sends on a navigation.
//!
//! It sets no header by hand that the page did not cause; it derives them as Chromium does:
//! - Every request is a top-level navigation: Accept, and Fetch Metadata (Sec-Fetch-Site, -Mode
//!   navigate, -Dest document, -User ?1 when the user caused it) to a potentially trustworthy
//!   URL (https, or a loopback host as here). Sec-Fetch-Site compares the initiating page's
//!   origin with every URL of the redirect chain and keeps the most cross of them: `none` when no
//!   page initiated it (a typed or pasted URL, which stays `none` through its redirects),
//!   `same-origin`, `same-site` (same scheme and host, another port: sites ignore the port) or
//!   `cross-site`.
//! - A form POST carries Origin as the Fetch standard serializes it from the page that holds the
//!   form and that page's referrer policy (the Referrer-Policy header, then <meta name=referrer>;
//!   strict-origin-when-cross-origin without either): `null` under no-referrer, or under
//!   same-origin for a target of another origin; else the page's origin.
//! - Cookies: a form POST from a page of another origin carries only SameSite=None cookies
//!   (SameSite defaults to Lax). This treats each origin as a site of its own, as the parties are
//!   in production; on this one loopback host Chromium would count another port as the same site
//!   and still send Lax cookies, which Gatehouse must never need. Top-level GETs carry them all.
//! The jar of a browser also holds its one tab: the page it shows (the last answer that was not
//! a redirect) and the navigation under way (a redirect not yet followed). A GET of a redirect's
//! Location continues that navigation; any other request starts a new one from the page shown.

import http from 'node:http';
import https from 'node:https';

/** What Chromium accepts on a navigation. */
const ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
/** The referrer policy of a page that names none (HTML, Fetch). */
const DEFAULT_POLICY = 'strict-origin-when-cross-origin';
const POLICIES = new Set(['no-referrer', 'no-referrer-when-downgrade', 'same-origin', 'origin', 'strict-origin', 'origin-when-cross-origin', DEFAULT_POLICY, 'unsafe-url']);
/** The legacy keywords <meta name=referrer> still accepts (HTML, "Standard metadata names"). */
const LEGACY_POLICIES = { never: 'no-referrer', default: DEFAULT_POLICY, always: 'unsafe-url', 'origin-when-crossorigin': 'origin-when-cross-origin' };
const SITES = ['same-origin', 'same-site', 'cross-site'];

/** A browser: a minimal RFC 6265 cookie jar (name + host + path; Max-Age/Expires deletion; SameSite) and its tab. */
export class CookieJar {
  #cookies = new Map();
  /** The page the tab shows ({ origin, referrerPolicy }), null before the first. */
  page = null;
  /** The navigation under way ({ initiator, site, user, next }: `next` the redirect to follow). */
  navigation = null;

  /** Stores the `Set-Cookie` header values (an array) of a response to `requestUrl`. */
  storeHeaders(setCookies, requestUrl) {
    const host = new URL(requestUrl).host;
    for (const header of setCookies ?? []) {
      const [pair, ...attributes] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = null;
      let expired = false;
      let sameSite = 'lax';
      for (const attribute of attributes) {
        const [rawKey, ...rest] = attribute.split('=');
        const key = rawKey.trim().toLowerCase();
        const val = rest.join('=').trim();
        if (key === 'path' && val.startsWith('/')) path = val;
        if (key === 'samesite' && ['strict', 'lax', 'none'].includes(val.toLowerCase())) sameSite = val.toLowerCase();
        if (key === 'max-age' && Number(val) <= 0) expired = true;
        if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      if (path === null) {
        const p = new URL(requestUrl).pathname;
        path = p.lastIndexOf('/') > 0 ? p.slice(0, p.lastIndexOf('/')) : '/';
      }
      const key = `${host}\u0000${path}\u0000${name}`;
      if (expired || value === '') this.#cookies.delete(key);
      else this.#cookies.set(key, { host, name, value, path, sameSite });
    }
  }

  /** The Cookie header for `url`; `crossSitePost`: only the SameSite=None cookies. */
  header(url, { crossSitePost = false } = {}) {
    const { host, pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => c.host === host && (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .filter((c) => !crossSitePost || c.sameSite === 'none')
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  has(name) {
    return [...this.#cookies.values()].some((c) => c.name === name);
  }
}

/** Whether Fetch counts `url` potentially trustworthy (Fetch Metadata is sent only there). */
function trustworthy(url) {
  const { protocol, hostname } = new URL(url);
  return protocol === 'https:' || hostname === 'localhost' || hostname.endsWith('.localhost') || /^127\./.test(hostname) || hostname === '[::1]';
}

/**
 * `Sec-Fetch-Site` of a request from a page of origin `initiator` (null: none, typed) to `url`.
 * Sites are compared by scheme and host (no public-suffix list: every party here is on one host).
 */
export function fetchSite(initiator, url) {
  if (initiator === null) return 'none';
  const from = new URL(initiator);
  const to = new URL(url);
  if (from.origin === to.origin) return 'same-origin';
  return from.protocol === to.protocol && from.hostname === to.hostname ? 'same-site' : 'cross-site';
}

/** The referrer policy of a page: its Referrer-Policy header (the last valid token), then its <meta name=referrer>. */
export function referrerPolicy(headerValue, html = '') {
  let policy = DEFAULT_POLICY;
  for (const token of (headerValue ?? '').split(',')) {
    if (POLICIES.has(token.trim().toLowerCase())) policy = token.trim().toLowerCase();
  }
  for (const m of html.matchAll(/<meta\b([^>]*)>/gi)) {
    const a = attributes(m[1]);
    const content = (a.content ?? '').trim().toLowerCase();
    if ((a.name ?? '').toLowerCase() === 'referrer' && POLICIES.has(LEGACY_POLICIES[content] ?? content)) policy = LEGACY_POLICIES[content] ?? content;
  }
  return policy;
}

/** The Origin of a form POST from `page` ({ origin, referrerPolicy }) to `url` (Fetch §"append a request Origin header"). */
export function requestOrigin(page, url) {
  switch (page.referrerPolicy) {
    case 'no-referrer':
      return 'null';
    case 'same-origin':
      return page.origin === new URL(url).origin ? page.origin : 'null';
    case 'no-referrer-when-downgrade':
    case 'strict-origin':
    case DEFAULT_POLICY:
      return page.origin.startsWith('https:') && !trustworthy(url) ? 'null' : page.origin;
    default:
      return page.origin;
  }
}

/**
 * The headers `jar`'s browser sends for a navigation to `url` (`method` GET or POST; `user`:
 * caused by the user, as a click or a typed form is; false for a form a script submits on load)
 * and the start, or the next hop, of its navigation. Content-Type is the caller's.
 */
export function requestHeaders(jar, url, { method = 'GET', user = true } = {}) {
  const under = jar.navigation;
  const followed = method === 'GET' && under?.next === url;
  if (method !== 'GET' && !jar.page) throw new Error(`a form POST to ${url} without a page that holds the form`);
  const initiator = followed ? under.initiator : jar.page?.origin ?? null;
  let site = fetchSite(initiator, url);
  if (followed && site !== 'none') site = SITES[Math.max(SITES.indexOf(under.site), SITES.indexOf(site))];
  jar.navigation = { initiator, site, user: followed ? under.user : user, next: null };
  const headers = { accept: ACCEPT };
  if (trustworthy(url)) {
    headers['sec-fetch-site'] = site;
    headers['sec-fetch-mode'] = 'navigate';
    headers['sec-fetch-dest'] = 'document';
    if (jar.navigation.user) headers['sec-fetch-user'] = '?1';
  }
  if (method !== 'GET') headers.origin = requestOrigin(jar.page, url);
  const cookie = jar.header(url, { crossSitePost: method !== 'GET' && jar.page.origin !== new URL(url).origin });
  if (cookie) headers.cookie = cookie;
  return headers;
}

/**
 * Takes in the answer to a request of `jar`'s browser to `url` ({ status, headers: a fetch
 * Headers or node:http's object, text }): its cookies, and either the redirect to follow or the
 * page the tab now shows. Also how a page the peer made without fetching it (an SP library's
 * auto-post form, served from the SP's origin) comes to be shown.
 */
export function received(jar, url, { status, headers = {}, text = '' }) {
  const get = (name) => (typeof headers.get === 'function' ? headers.get(name) : headers[name]) ?? null;
  jar.storeHeaders(typeof headers.getSetCookie === 'function' ? headers.getSetCookie() : [headers['set-cookie'] ?? []].flat(), url);
  const location = get('location');
  if (status >= 300 && status < 400 && location !== null && jar.navigation) {
    jar.navigation.next = new URL(location, url).href;
    return;
  }
  jar.page = { origin: new URL(url).origin, referrerPolicy: referrerPolicy(get('referrer-policy'), text) };
  jar.navigation = null;
}

/**
 * One HTTP request over node:http(s), redirects not followed, the headers exactly as given (and
 * Host, Connection, Content-Length); `agent` e.g. a keep-alive one. Resolves { status, headers
 * (node:http's object: lowercase names, set-cookie an array), text, url }.
 */
export function send(url, { method = 'GET', headers = {}, body, agent, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const transport = u.protocol === 'https:' ? https : http;
    const req = transport.request(u, { method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), url }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms: ${method} ${u.origin}${u.pathname}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The browser of one identity provider at `origin` (e.g. http://127.0.0.1:PORT): `browse` makes
 * one request as the browser derives it, `follow` follows redirects only while they stay there.
 */
export function headlessBrowser(origin) {
  /**
   * One browser request: manual redirects, cookies in and out, the headers of requestHeaders
   * (`user`: false for a form a script submits on load). `location` is the Location header made
   * absolute (null without one); `headers` (a fetch Headers) still has it as sent.
   */
  async function browse(jar, url, { method = 'GET', form, user = true } = {}) {
    const headers = requestHeaders(jar, url, { method, user });
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await send(url, { method, headers, body });
    received(jar, url, res);
    const location = res.headers.location ?? null;
    const answer = new Headers();
    for (const [name, value] of Object.entries(res.headers)) for (const v of [value].flat()) answer.append(name, v);
    return {
      status: res.status,
      location: location === null ? null : new URL(location, url).href,
      headers: answer,
      text: res.text,
      url,
    };
  }

  /** Follows GET redirects inside the identity provider until a 200 page (or a redirect out of it). */
  async function follow(jar, res, maxHops = 5) {
    let current = res;
    for (let i = 0; i < maxHops && current.status >= 300 && current.status < 400; i += 1) {
      if (new URL(current.location).origin !== origin) return current;
      current = await browse(jar, current.location);
    }
    return current;
  }

  return { browse, follow };
}

export function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos|#39);/gi, (_, e) => {
    const lower = e.toLowerCase();
    if (lower === 'amp') return '&';
    if (lower === 'lt') return '<';
    if (lower === 'gt') return '>';
    if (lower === 'quot') return '"';
    if (lower === 'apos' || lower === '#39') return "'";
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    return String.fromCodePoint(parseInt(lower.slice(1), 10));
  });
}

/** The attributes of a start tag's inside (`tag` is what stands between `<name` and `>`). */
export function attributes(tag) {
  const attrs = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

/** Every <form> of a page: method, absolute action, hidden inputs, other inputs, buttons (name, value, label). */
export function parseForms(html, baseUrl) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1]);
    const hidden = {};
    const inputs = [];
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const a = attributes(input[1]);
      if (!a.name) continue;
      if ((a.type ?? 'text').toLowerCase() === 'hidden') hidden[a.name] = a.value ?? '';
      else inputs.push(a.name);
    }
    const buttons = [];
    for (const b of m[2].matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)) {
      const a = attributes(b[1]);
      buttons.push({ name: a.name ?? null, value: a.value ?? '', label: decodeEntities(b[2].replace(/<[^>]*>/g, '').trim()) });
    }
    forms.push({ method: (attrs.method ?? 'get').toLowerCase(), action: new URL(attrs.action ?? baseUrl, baseUrl).href, hidden, inputs, buttons });
  }
  return forms;
}

/** The visible text of a page (scripts, styles and inline SVG dropped, tags dropped, entities decoded, spaces folded). */
export function pageText(html) {
  return decodeEntities(html.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>|<svg[\s\S]*?<\/svg>/gi, ' ').replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
}

/** Whether two URLs name the same endpoint (origin and path; the query does not count). */
export function sameEndpoint(a, b) {
  const x = new URL(a);
  const y = new URL(b);
  return x.origin === y.origin && x.pathname === y.pathname;
}
