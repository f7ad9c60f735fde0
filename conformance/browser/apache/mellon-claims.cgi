#!/usr/bin/env python3
"""The page mod_auth_mellon protects in the browser suite: the MELLON_* values (names without the
prefix; MellonSetEnv maps Gatehouse's claim URIs to short names) as <pre id="claims">{…JSON…}</pre>,
plus nameIdFormat, read from the Response mellon verified and handed over in MELLON_SAML_RESPONSE
(MellonSamlResponseDump). No scripts; the journeys read the page the browser shows."""
import base64
import html
import json
import os
import re

claims = {k[len("MELLON_"):]: v for k, v in sorted(os.environ.items())
          if k.startswith("MELLON_") and k != "MELLON_SAML_RESPONSE"}
raw = os.environ.get("MELLON_SAML_RESPONSE", "")
try:
    xml = base64.b64decode(raw, validate=True).decode("utf-8") if raw and not raw.lstrip().startswith("<") else raw
except Exception:  # noqa: BLE001 - not base64: the XML itself
    xml = raw
match = re.search(r"<(?:\w+:)?NameID\b([^>]*)>", xml)
fmt = re.search(r'\bFormat="([^"]*)"', match.group(1)) if match else None
claims["nameIdFormat"] = fmt.group(1) if fmt else None
claims["samlResponseDumped"] = bool(xml)
items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in claims.items())
print("Content-Type: text/html; charset=utf-8")
print("Cache-Control: no-store")
print()
print(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Claims · mod_auth_mellon</title></head>'
    f'<body><main><p>mod_auth_mellon test app</p><h1 id="result">Signed in</h1>'
    f'<p>REMOTE_USER: <span id="remote-user">{html.escape(os.environ.get("REMOTE_USER", ""))}</span></p>'
    f"<dl>{items}</dl><pre id=\"claims\">{html.escape(json.dumps(claims, indent=2))}</pre></main></body></html>"
)
