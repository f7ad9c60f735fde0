//! The headless browser of the Node conformance peers (conformance/oidc/openid-client/rp.mjs,
//! conformance/invite/node/journey.mjs, conformance/mfa/node/journey.mjs).
//!
//! Plain Node (fetch, URL), no npm dependencies: each peer imports it by relative path, beside
//! the protocol library it pins in its own node_modules. It is what a person's browser does and
//! nothing more: a small cookie jar, one request at a time with redirects left to the caller
//! (fetch with redirect: 'manual'), form posts that carry Origin, following redirects inside the
//! identity provider, and reading forms and visible text out of HTML. It makes no checks of its
//! own; the peers decide what a page must look like.

/** A minimal RFC 6265 cookie jar (name + host + path; Max-Age/Expires deletion). */
export class CookieJar {
  #cookies = new Map();

  store(response, requestUrl) {
    this.storeHeaders(response.headers.getSetCookie(), requestUrl);
  }

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
      for (const attribute of attributes) {
        const [rawKey, ...rest] = attribute.split('=');
        const key = rawKey.trim().toLowerCase();
        const val = rest.join('=').trim();
        if (key === 'path' && val.startsWith('/')) path = val;
        if (key === 'max-age' && Number(val) <= 0) expired = true;
        if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      if (path === null) {
        const p = new URL(requestUrl).pathname;
        path = p.lastIndexOf('/') > 0 ? p.slice(0, p.lastIndexOf('/')) : '/';
      }
      const key = `${host}\u0000${path}\u0000${name}`;
      if (expired || value === '') this.#cookies.delete(key);
      else this.#cookies.set(key, { host, name, value, path });
    }
  }

  header(url) {
    const { host, pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => c.host === host && (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  has(name) {
    return [...this.#cookies.values()].some((c) => c.name === name);
  }
}

/**
 * The browser of one identity provider at `origin` (e.g. http://127.0.0.1:PORT): `browse` sends
 * `origin` as Origin on its form POSTs, `follow` follows redirects only while they stay there.
 */
export function headlessBrowser(origin) {
  /**
   * One browser request: manual redirects, cookies in and out. `location` is the Location header
   * made absolute (null without one); `headers` still has it as sent.
   */
  async function browse(jar, url, { method = 'GET', form } = {}) {
    const headers = { accept: 'text/html,application/xhtml+xml' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = origin;
    }
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    jar.store(response, url);
    const text = await response.text();
    const location = response.headers.get('location');
    return {
      status: response.status,
      location: location === null ? null : new URL(location, url).href,
      headers: response.headers,
      text,
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
