"""Gatehouse selective-access conformance, SAML side: python3-saml (OneLogin) as a service
provider that authorises on the role and groups attributes of the assertion
(http://schemas.microsoft.com/ws/2008/06/identity/claims/role and .../groups), and reads the
guest flag (http://schemas.microsoft.com/identity/claims/acct).

The roles and the group assignment were set up by ../node/journey.mjs through the Graph API
(the config's state_file). Checks: python3-saml (strict) accepts the Response; the SP's "approve" decision
is 200 with Approver and the group listed; after the member leaves the group (Graph
DELETE members/$ref), the next assertion has neither and the decision is 403.

Usage: python sp.py CONFIG.json   (written by ../run.sh)
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "saml", "python"))

from onelogin.saml2.auth import OneLogin_Saml2_Auth  # noqa: E402
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C  # noqa: E402
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser  # noqa: E402

import common  # noqa: E402
from common import check, check_equal, ok, step  # noqa: E402

ROLE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
ACCT = "http://schemas.microsoft.com/identity/claims/acct"


def settings(cfg: dict) -> dict:
    idp = OneLogin_Saml2_IdPMetadataParser.parse(common.fetch_metadata(cfg))["idp"]
    sp = cfg["sp"]
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp["entity_id"],
            "assertionConsumerService": {"url": sp["acs"], "binding": C.BINDING_HTTP_POST},
            "NameIDFormat": common.NAMEID_PERSISTENT,
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": False,
            "wantAssertionsSigned": True,
            "wantAttributeStatement": True,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
            "rejectDeprecatedAlgorithm": True,
        },
    }


def request_data(url: str, post: dict | None = None) -> dict:
    u = urllib.parse.urlsplit(url)
    return {"https": "off", "http_host": u.hostname, "server_port": str(u.port or 80),
            "script_name": u.path, "get_data": {}, "post_data": post or {}}


def sign_in(cfg: dict, s: dict):
    """SP-initiated sign-in; the validated auth object."""
    sp = cfg["sp"]
    auth = OneLogin_Saml2_Auth(request_data(sp["acs"]), s)
    url = auth.login()
    request_id = auth.get_last_request_id()
    outcome = common.expect_post_to(common.Browser(cfg).run("GET", url), sp["acs"], "sign-in")
    auth = OneLogin_Saml2_Auth(request_data(sp["acs"], post=outcome.fields), s)
    auth.process_response(request_id=request_id)
    check(auth.is_authenticated() and not auth.get_errors(),
          "python3-saml (strict) accepts the Response", auth.get_last_error_reason())
    return auth


def decision(auth) -> int:
    """The SP's authorisation: 200 for Approver, else 403."""
    return 200 if "Approver" in (auth.get_attribute(ROLE) or []) else 403


def graph(cfg: dict, method: str, path: str, body: dict | None, expected: int) -> None:
    token = cfg["admin"]["token"]
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{cfg['issuer']}/v1.0/{path}", data=data, method=method)
    req.add_header("authorization", f"Bearer {token}")
    if data:
        req.add_header("content-type", "application/json")
    try:
        status = urllib.request.urlopen(req, timeout=30).status
    except urllib.error.HTTPError as err:
        status = err.code
    check_equal(status, expected, f"{method} {path}")


def admin_token(cfg: dict) -> str:
    body = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
    req = urllib.request.Request(f"{cfg['issuer']}/oauth2/token", data=body, method="POST")
    creds = base64.b64encode(f"{cfg['admin']['client_id']}:{cfg['admin']['client_secret']}".encode()).decode()
    req.add_header("authorization", f"Basic {creds}")
    req.add_header("content-type", "application/x-www-form-urlencoded")
    return json.load(urllib.request.urlopen(req, timeout=30))["access_token"]


def main(cfg: dict) -> None:
    with open(cfg["state_file"], encoding="utf-8") as f:
        state = json.load(f)
    s = settings(cfg)
    cfg["admin"]["token"] = admin_token(cfg)
    step("saml-with")
    auth = sign_in(cfg, s)
    check_equal(auth.get_attribute(ROLE), ["Approver"], "the role attribute lists Approver")
    check_equal(auth.get_attribute(GROUPS), [state["group"]], "the groups attribute lists the group")
    check_equal(auth.get_attribute(ACCT), ["0"], "acct says member")
    check_equal(decision(auth), 200, "the SP admits an Approver")
    step("saml-removed")
    graph(cfg, "DELETE", f"groups/{state['group']}/members/{cfg['user']['id']}/$ref", None, 204)
    auth = sign_in(cfg, s)
    check(not auth.get_attribute(ROLE), "the next assertion has no role", auth.get_attributes())
    check(not auth.get_attribute(GROUPS), "nor the group", auth.get_attributes())
    check_equal(decision(auth), 403, "the SP refuses")
    ok("python3-saml authorised on the assertion's role and groups")


if __name__ == "__main__":
    common.run_main(main, "access-saml")
