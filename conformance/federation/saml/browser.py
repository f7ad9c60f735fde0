"""The headless browser of the federation SAML journey: what a person's browser does and nothing
more, in the manner of conformance/lib/browser.mjs.

- One request at a time with redirects left to the caller (requests with allow_redirects=False).
- Its own cookie jar, keyed by origin (scheme, host and port) and path, because the parties all
  listen on 127.0.0.1 and only the port tells them apart. For cookies each origin is treated as
  a site of its own, as Gatehouse and a guest's home IdP are in production: a form POST from a
  page of one origin to another (the IdP's auto-post form to Gatehouse's ACS) carries only
  SameSite=None cookies, never SameSite=Lax or Strict ones (RFC 6265bis §5.2). Top-level GET
  navigations carry Lax cookies.
- No header set by hand that the page did not cause: conformance/lib/navigation.py derives them
  as Chromium does. Every request carries Fetch Metadata (Sec-Fetch-Site from the initiating
  page across the redirect chain: another port of 127.0.0.1 is `same-site`, as Chromium says on
  one host), and a form POST the Origin that the page holding the form reveals under its
  referrer policy (`null` from a no-referrer page, or from a same-origin page to another origin).
  An auto-post form is submitted as a script does it: without Sec-Fetch-User.
- It reads forms, hidden fields, buttons and visible text out of HTML; it makes no checks of its
  own.
"""

from __future__ import annotations

import http.cookiejar
import re
import time
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import os
import sys

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from navigation import Document, Tab  # noqa: E402

TIMEOUT = 20


def origin_of(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


def same_endpoint(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.netloc, x.path) == (y.scheme, y.netloc, y.path)


class Page:
    """One answer: status, the URL asked for, the absolute Location (or None), the body."""

    def __init__(self, method: str, url: str, response: requests.Response):
        self.method = method
        self.url = url
        self.status = response.status_code
        location = response.headers.get("Location")
        self.location = urljoin(url, location) if location else None
        self.headers = response.headers
        self.text = response.text

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400

    def forms(self) -> list[dict]:
        return parse_forms(self.text, self.url)

    def visible_text(self) -> str:
        return page_text(self.text)

    def brief(self) -> dict:
        """What a failure message shows of this answer."""
        return {"request": f"{self.method} {self.url[:200]}", "status": self.status,
                "location": (self.location or "")[:300], "text": self.visible_text()[:800]}


class Browser:
    def __init__(self, name: str = "browser"):
        self.name = name
        self.session = requests.Session()
        # requests must not keep cookies itself (it ignores ports and SameSite): ours does.
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.cookies: dict[tuple[str, str, str], dict] = {}
        self.history: list[str] = []
        self.tab = Tab()

    # ------------------------------------------------------------------------------- cookies
    def _store(self, url: str, response: requests.Response) -> None:
        origin = origin_of(url)
        for header in response.raw.headers.getlist("Set-Cookie"):
            pair, *attributes = header.split(";")
            if "=" not in pair:
                continue
            name, value = (s.strip() for s in pair.split("=", 1))
            path, same_site, expired = None, "lax", False  # browsers default to Lax
            for attribute in attributes:
                key, _, val = attribute.partition("=")
                key, val = key.strip().lower(), val.strip()
                if key == "path" and val.startswith("/"):
                    path = val
                elif key == "samesite":
                    same_site = val.lower()
                elif key == "max-age":
                    try:
                        expired = int(val) <= 0
                    except ValueError:
                        pass
            if path is None:
                p = urlsplit(url).path
                path = p[: p.rfind("/")] if p.rfind("/") > 0 else "/"
            k = (origin, path, name)
            if expired or value == "":
                self.cookies.pop(k, None)
            else:
                self.cookies[k] = {"value": value, "same_site": same_site, "set_at": time.time()}

    def _cookie_header(self, url: str, cross_site_post: bool) -> str:
        origin, path = origin_of(url), urlsplit(url).path or "/"
        out = []
        for (o, p, name), c in self.cookies.items():
            if o != origin:
                continue
            if not (path == p or path.startswith(p if p.endswith("/") else p + "/")):
                continue
            if cross_site_post and c["same_site"] != "none":
                continue
            out.append(f"{name}={c['value']}")
        return "; ".join(out)

    def cookie_names(self, url: str) -> list[str]:
        return sorted(name for (o, _, name) in self.cookies if o == origin_of(url))

    # ------------------------------------------------------------------------------ requests
    def request(self, method: str, url: str, form: dict | None = None, *, page: Page | None = None,
                by_script: bool = False) -> Page:
        """One navigation. A POST is a form submission from `page` (the page that holds the form;
        default: the one shown), `by_script` when a script submits it on load; its Origin, Fetch
        Metadata and cookies follow from that page."""
        document = Document.of(page.url, page.headers, page.text) if page is not None else None
        headers, cross_site_post = self.tab.headers(method, url, page=document, user=not by_script)
        headers["User-Agent"] = "gatehouse-conformance/1"
        cookie = self._cookie_header(url, cross_site_post)
        if cookie:
            headers["Cookie"] = cookie
        response = self.session.request(method, url, data=form, headers=headers, allow_redirects=False,
                                        timeout=TIMEOUT)
        self._store(url, response)
        answer = Page(method, url, response)
        self.tab.received(url, answer.status, answer.headers, answer.text)
        self.history.append(f"{method} {url[:150]} -> {answer.status} {(answer.location or '')[:150]}")
        return answer

    def get(self, url: str) -> Page:
        return self.request("GET", url)

    def submit(self, page: Page, form: dict, extra: dict | None = None, *, by_script: bool = False) -> Page:
        """Submits `form` (parsed out of `page`) as the page would: its action, its method, its
        hidden fields plus `extra`; `by_script` for an auto-post form."""
        fields = dict(form["hidden"])
        fields.update(extra or {})
        if form["method"] == "post":
            return self.request("POST", form["action"], fields, page=page, by_script=by_script)
        query = requests.models.RequestEncodingMixin._encode_params(fields)
        return self.get(form["action"] + ("&" if "?" in form["action"] else "?") + query)

    def follow(self, page: Page, *, stay_in: list[str] | None = None, stop=None, max_hops: int = 12) -> Page:
        """Follows redirects (GET) while the target is at one of the origins `stay_in` (all when
        None) and `stop(url)` is not true; returns the last answer (a page, or a redirect that
        was not followed)."""
        current = page
        for _ in range(max_hops):
            if not current.is_redirect or not current.location:
                return current
            target = current.location
            if stop is not None and stop(target):
                return current
            if stay_in is not None and origin_of(target) not in stay_in:
                return current
            current = self.get(target)
        return current


# ------------------------------------------------------------------------------------ HTML
class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._button: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "action": a.get("action", ""),
                          "hidden": {}, "inputs": [], "buttons": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text").lower() == "hidden":
                self._form["hidden"][a["name"]] = a.get("value", "")
            else:
                self._form["inputs"].append(a["name"])
        elif tag == "button" and self._form is not None:
            self._button = {"name": a.get("name"), "value": a.get("value", ""), "label": ""}
            self._form["buttons"].append(self._button)

    def handle_data(self, data):
        if self._button is not None:
            self._button["label"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "button" and self._button is not None:
            self._button["label"] = self._button["label"].strip()
            self._button = None


def parse_forms(html_text: str, base_url: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html_text)
    for form in parser.forms:
        form["action"] = urljoin(base_url, form["action"] or base_url)
    return parser.forms


def page_text(html_text: str) -> str:
    body = re.sub(r"(?is)<(script|style|head|svg)\b.*?</\1>|<[^>]+>", " ", html_text)
    return " ".join(unescape(body).split())
