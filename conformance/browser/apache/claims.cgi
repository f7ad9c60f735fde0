#!/usr/bin/env python3
"""The page mod_auth_openidc protects in the browser suite: the OIDC_CLAIM_* values as a list
and as <pre id="claims">{…JSON…}</pre> (claim name -> value as mod_auth_openidc passes it:
arrays joined with commas). No scripts; the journeys read the page the browser shows."""
import html
import json
import os

claims = {k[len("OIDC_CLAIM_"):]: v for k, v in sorted(os.environ.items()) if k.startswith("OIDC_CLAIM_")}
items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in claims.items())
print("Content-Type: text/html; charset=utf-8")
print("Cache-Control: no-store")
print()
print(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Claims · mod_auth_openidc</title></head>'
    f'<body><main><p>mod_auth_openidc test app</p><h1 id="result">Signed in</h1>'
    f'<p>REMOTE_USER: <span id="remote-user">{html.escape(os.environ.get("REMOTE_USER", ""))}</span></p>'
    f"<dl>{items}</dl><pre id=\"claims\">{html.escape(json.dumps(claims, indent=2))}</pre></main></body></html>"
)
