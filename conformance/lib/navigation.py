"""What the Python conformance browsers send, derived as Chromium derives it; the Python
counterpart of conformance/lib/browser.mjs. Used by conformance/federation/saml/browser.py (with
its own cookie jar) and, as `Browser` (a requests.Session and its tab), by
conformance/saml/python/common.py and conformance/oidc/authlib/rp.py. Each puts this folder on
sys.path.

No header is set by hand that the page did not cause:

- Every request is a top-level navigation: Accept, and Fetch Metadata (Sec-Fetch-Site, -Mode
  navigate, -Dest document, -User ?1 when the user caused it; a form a script submits on load is
  not) to a potentially trustworthy URL (https, or a loopback host as here). Sec-Fetch-Site
  compares the initiating page's origin with every URL of the redirect chain and keeps the most
  cross: `none` when no page initiated it (a typed or pasted URL; it stays `none` through its
  redirects), `same-origin`, `same-site` (same scheme and host, another port: sites ignore the
  port) or `cross-site`.
- A form POST carries Origin as the Fetch standard serializes it from the page that holds the
  form and that page's referrer policy (Referrer-Policy header, then <meta name=referrer>;
  strict-origin-when-cross-origin without either): `null` under no-referrer, or under
  same-origin for a target of another origin; else the page's origin.
- Cookies: a form POST from a page of another origin carries only SameSite=None cookies
  (SameSite defaults to Lax). This treats each origin as a site of its own, as the parties are in
  production; on this one loopback host Chromium would count another port as the same site and
  still send Lax cookies, which Gatehouse must never need. Top-level GETs carry them all.

A tab shows one page (the last answer that was not a redirect) and has at most one navigation
under way (a redirect not yet followed): a GET of that redirect's Location continues the
navigation, any other request starts a new one from the page shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict

ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
          "application/signed-exchange;v=b3;q=0.7")
DEFAULT_POLICY = "strict-origin-when-cross-origin"
POLICIES = {"no-referrer", "no-referrer-when-downgrade", "same-origin", "origin", "strict-origin",
            "origin-when-cross-origin", DEFAULT_POLICY, "unsafe-url"}
# The legacy keywords <meta name=referrer> still accepts (HTML, "Standard metadata names").
LEGACY_POLICIES = {"never": "no-referrer", "default": DEFAULT_POLICY, "always": "unsafe-url",
                   "origin-when-crossorigin": "origin-when-cross-origin"}
SITES = ["same-origin", "same-site", "cross-site"]
TIMEOUT = 30


def origin_of(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


def trustworthy(url: str) -> bool:
    """Whether Fetch counts `url` potentially trustworthy (Fetch Metadata is sent only there)."""
    u = urlsplit(url)
    host = u.hostname or ""
    return u.scheme == "https" or host == "localhost" or host.endswith(".localhost") or host.startswith("127.") or host == "::1"


def fetch_site(initiator: str | None, url: str) -> str:
    """Sec-Fetch-Site of a request from a page of origin `initiator` (None: none, typed) to `url`.
    Sites are compared by scheme and host (no public-suffix list: every party here is on one host)."""
    if initiator is None:
        return "none"
    a, b = urlsplit(initiator), urlsplit(url)
    if origin_of(initiator) == origin_of(url):
        return "same-origin"
    return "same-site" if (a.scheme, a.hostname) == (b.scheme, b.hostname) else "cross-site"


def referrer_policy(header: str | None, html: str = "") -> str:
    """A page's referrer policy: its Referrer-Policy header (the last valid token), then its
    <meta name=referrer>."""
    policy = DEFAULT_POLICY
    for token in (header or "").split(","):
        if token.strip().lower() in POLICIES:
            policy = token.strip().lower()
    for tag in re.findall(r"(?is)<meta\b([^>]*)>", html or ""):
        attrs = {k.lower(): unescape(v1 or v2 or v3) for k, v1, v2, v3 in
                 re.findall(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", tag)}
        content = attrs.get("content", "").strip().lower()
        content = LEGACY_POLICIES.get(content, content)
        if attrs.get("name", "").lower() == "referrer" and content in POLICIES:
            policy = content
    return policy


@dataclass
class Document:
    """A page as far as the requests it makes depend on it."""
    origin: str
    referrer_policy: str

    @classmethod
    def of(cls, url: str, headers=None, html: str = "") -> "Document":
        return cls(origin_of(url), referrer_policy(CaseInsensitiveDict(headers or {}).get("Referrer-Policy"), html))


def request_origin(page: Document, url: str) -> str:
    """The Origin of a form POST from `page` to `url` (Fetch §"append a request Origin header")."""
    policy = page.referrer_policy
    if policy == "no-referrer":
        return "null"
    if policy == "same-origin":
        return page.origin if page.origin == origin_of(url) else "null"
    if policy in ("no-referrer-when-downgrade", "strict-origin", DEFAULT_POLICY):
        return "null" if page.origin.startswith("https:") and not trustworthy(url) else page.origin
    return page.origin


class Tab:
    """A browser's one tab: the page it shows and the navigation under way."""

    def __init__(self) -> None:
        self.page: Document | None = None
        self._navigation: dict | None = None  # initiator, site, user, next (the redirect to follow)

    def headers(self, method: str, url: str, *, page: Document | None = None, user: bool = True) -> tuple[dict, bool]:
        """The headers of a navigation to `url` and whether it is a POST from another origin
        (then only SameSite=None cookies go along; the Cookie header is the caller's). `page`:
        the page that holds the form (default: the one shown); `user`: False for a form a
        script submits on load."""
        under = self._navigation
        followed = method == "GET" and under is not None and under["next"] == url
        page = page or self.page
        if method != "GET" and page is None:
            raise ValueError(f"a form POST to {url} without a page that holds the form")
        initiator = under["initiator"] if followed else (page.origin if page else None)
        site = fetch_site(initiator, url)
        if followed and site != "none":
            site = SITES[max(SITES.index(under["site"]), SITES.index(site))]
        self._navigation = {"initiator": initiator, "site": site, "user": under["user"] if followed else user,
                            "next": None}
        headers = {"Accept": ACCEPT}
        if trustworthy(url):
            headers.update({"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
            if self._navigation["user"]:
                headers["Sec-Fetch-User"] = "?1"
        cross_site_post = False
        if method != "GET":
            headers["Origin"] = request_origin(page, url)
            cross_site_post = page.origin != origin_of(url)
        return headers, cross_site_post

    def received(self, url: str, status: int, headers, text: str = "") -> None:
        """An answer to the navigation: a redirect to follow, or the page the tab now shows.
        Also how a page the peer made without fetching it (an SP library's auto-post form) is
        shown."""
        location = CaseInsensitiveDict(headers or {}).get("Location")
        if 300 <= status < 400 and location and self._navigation is not None:
            self._navigation["next"] = urljoin(url, location)
            return
        self.page = Document.of(url, headers, text)
        self._navigation = None


def _same_site(cookie) -> str:
    rest = getattr(cookie, "_rest", {}) or {}
    return next((str(v).lower() for k, v in rest.items() if k.lower() == "samesite"), "lax")


class Browser:
    """A requests.Session (its cookie jar) as a browser with one tab. requests follows no redirect."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.tab = Tab()

    def request(self, method: str, url: str, data: dict | None = None, *, page: Document | None = None,
                user: bool = True, timeout: float = TIMEOUT) -> requests.Response:
        """One navigation with the headers Tab derives; a POST from another origin goes out
        with only the SameSite=None cookies, and what it sets is kept all the same."""
        headers, cross_site_post = self.tab.headers(method, url, page=page, user=user)
        if cross_site_post:
            jar = RequestsCookieJar()
            for cookie in self.session.cookies:
                if _same_site(cookie) == "none":
                    jar.set_cookie(cookie)
            res = requests.request(method, url, data=data, headers=headers, cookies=jar, allow_redirects=False,
                                   timeout=timeout)
            extract_cookies_to_jar(self.session.cookies, res.request, res.raw)
        else:
            res = self.session.request(method, url, data=data, headers=headers, allow_redirects=False, timeout=timeout)
        self.tab.received(url, res.status_code, res.headers, res.text)
        return res


# Every form of a page, and the sign-in and redemption forms of Gatehouse's pages (shared by
# the SAML conformance suites, the fault drills and the logout suite).
class FormParser(HTMLParser):
    """Collects every <form>: method, action, hidden inputs and the names of the other inputs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "action": a.get("action", ""),
                          "hidden": {}, "inputs": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text").lower() == "hidden":
                self._form["hidden"][a["name"]] = a.get("value", "")
            else:
                self._form["inputs"].append(a["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse_forms(html: str, base_url: str) -> list[dict]:
    """Every form of the page (method, absolute action, hidden fields, other inputs' names)."""
    parser = FormParser()
    parser.feed(html)
    for form in parser.forms:
        form["action"] = urljoin(base_url, form["action"] or base_url)
    return parser.forms


def sign_in_form(html: str, base: str) -> dict | None:
    """The page's POST form carrying a `step` (method, absolute action, hidden fields, the names
    of its other inputs), or None."""
    return next((f for f in parse_forms(html, base)
                 if f["method"] == "post" and "step" in f["hidden"]), None)
