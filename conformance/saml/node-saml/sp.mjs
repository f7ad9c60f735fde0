// Gatehouse SAML conformance: @node-saml/node-saml 5 as the service provider.
//
// node-saml verifies with xml-crypto and parses with @xmldom/xmldom: an XML-DSig stack that
// shares no code with libxml2/xmlsec (Gatehouse's signer, python3-saml, pysaml2, xmlsec1).
// Protocol work is node-saml's:
//   - SP "node-saml": getAuthorizeUrlAsync builds an unsigned HTTP-Redirect AuthnRequest
//     (RequestedAuthnContext PasswordProtectedTransport, exact), validatePostResponseAsync
//     checks the Assertion signature against the metadata certificates (wantAssertionsSigned),
//     InResponseTo against its request cache (validateInResponseTo: always), times and Audience.
//   - SP "node-saml-signed": getAuthorizeFormAsync builds an HTTP-POST AuthnRequest with an
//     enveloped RSA-SHA256 signature; wantAuthnResponseSigned AND wantAssertionsSigned;
//     getLogoutUrlAsync sends a signed Redirect LogoutRequest and validateRedirectAsync checks
//     the signed Redirect LogoutResponse.
// Hand-written here: the walk through Gatehouse's pages and the tampering. The browser (a cookie
// jar; Fetch Metadata and Origin derived as Chromium does, from the page that holds each form) and
// the form reader are ../../lib/browser.mjs. The POST-binding requests are posted from the page
// node-saml builds, shown as the SP's own: a cross-site POST with the Origin its policy allows and
// none of Gatehouse's SameSite=Lax cookies.
//
// Usage: node sp.mjs CONFIG.json   (written by ../run.sh)

import { readFileSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { SAML, ValidateInResponseTo } from "@node-saml/node-saml";
import { DOMParser, XMLSerializer } from "@xmldom/xmldom";
import { CookieJar, headlessBrowser, parseForms, received, sameEndpoint } from "../../lib/browser.mjs";

const NS = {
  samlp: "urn:oasis:names:tc:SAML:2.0:protocol",
  saml: "urn:oasis:names:tc:SAML:2.0:assertion",
  ds: "http://www.w3.org/2000/09/xmldsig#",
  md: "urn:oasis:names:tc:SAML:2.0:metadata",
};
const ATTR = {
  email: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
  surname: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
  display: "http://schemas.microsoft.com/identity/claims/displayname",
  oid: "http://schemas.microsoft.com/identity/claims/objectidentifier",
  tenant: "http://schemas.microsoft.com/identity/claims/tenantid",
};
const PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const EVIL_EMAIL = "mallory@evil.example";
const TIMEOUT_MS = 30_000;

// ------------------------------------------------------------------------------------ checks
let passed = 0;
let currentStep = "(setup)";
class CheckFailed extends Error {}
const step = (name) => { currentStep = name; console.log(`\n== ${name}`); };
const ok = (message) => { passed += 1; console.log(`  ok   ${message}`); };
function fail(message, detail) {
  let text = `[${currentStep}] ${message}`;
  if (detail !== undefined) text += `\n       detail: ${typeof detail === "string" ? detail : JSON.stringify(detail, null, 2)}`;
  throw new CheckFailed(text);
}
function check(condition, message, detail) { if (!condition) fail(message, detail); ok(message); }
function checkEqual(actual, expected, message) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) fail(message, { expected, actual });
  const shown = JSON.stringify(actual) ?? "undefined";
  ok(`${message} (${shown.length <= 90 ? shown : shown.slice(0, 87) + "..."})`);
}

// ------------------------------------------------------------------------- the headless browser
// Requests, cookies, Fetch Metadata, Origin and the form reader are ../../lib/browser.mjs;
// how a run walks Gatehouse's pages is here.
class Browser {
  constructor(cfg) {
    this.cfg = cfg;
    this.jar = new CookieJar();
    this.browse = headlessBrowser(new URL(cfg.public_url).origin).browse;
  }
  /**
   * Follows Gatehouse until the form that posts a SAMLResponse (or a redirect to `stopAt`).
   * `spPage`: the SP's page ({ url, html }) that holds a POST-binding form and submits it by
   * script on load: the browser shows it first, and the POST's Origin, Fetch Metadata and
   * cookies follow from it.
   */
  async run(method, url, data, { spPage, stopAt, signIn = true } = {}) {
    const trail = [];
    let loginPages = 0;
    let user = true;
    if (spPage) {
      received(this.jar, spPage.url, { status: 200, text: spPage.html });
      user = false;
    }
    for (let i = 0; i < 12; i++) {
      const res = await this.browse(this.jar, url, { method, form: method === "POST" ? data : undefined, user });
      user = true;
      const location = res.headers.get("location");
      trail.push(`${method} ${url.slice(0, 160)} -> ${res.status} ${(location ?? "").slice(0, 160)}`);
      if (res.status >= 300 && res.status < 400) {
        if (!location) fail(`redirect ${res.status} without Location`, trail);
        const target = res.location;
        if (stopAt && sameEndpoint(target, stopAt)) return { kind: "redirect", url: target, trail, loginPages };
        if (!target.startsWith(this.cfg.public_url)) fail("Gatehouse redirected outside itself", { trail, target });
        method = "GET"; url = target; data = undefined;
        continue;
      }
      const text = res.text;
      if (res.status !== 200) return { kind: "error", status: res.status, body: text, trail, loginPages };
      const forms = parseForms(text, url);
      const post = forms.find((f) => "SAMLResponse" in f.hidden);
      if (post) {
        if (post.method !== "post") fail("the SAMLResponse form must use method=post", post);
        return { kind: "post", url: post.action, fields: post.hidden, trail, loginPages };
      }
      const form = forms.find((f) => f.method === "post" && "step" in f.hidden);
      if (!form) return { kind: "page", status: res.status, body: text, trail, loginPages };
      loginPages += 1;
      if (!signIn) return { kind: "login", trail, loginPages };
      const fields = { ...form.hidden };
      if (fields.step === "identify") fields.email = this.cfg.user.email;
      else if (fields.step === "password") fields.password = this.cfg.user.password;
      else fail(`unknown sign-in step ${fields.step}`, trail);
      method = "POST"; url = form.action; data = fields;
    }
    fail("the browser run did not finish within 12 requests", trail);
  }
}

/** node-saml's auto-post page (getAuthorizeFormAsync) as the SP `app` serves it, from its own origin. */
const spPage = (app, html) => ({ url: new URL("/", app.acs).href, html });

function expectPostTo(outcome, acs, message) {
  if (outcome.kind !== "post") fail(`${message}: expected an auto-post form to ${acs}`, { ...outcome, body: outcome.body?.slice(0, 1500) });
  checkEqual(outcome.url, acs, `${message}: the form posts to the registered ACS`);
  return outcome;
}
const pageText = (html) => html.replace(/<(script|style|head)[\s\S]*?<\/\1>|<[^>]+>/gi, " ").replace(/\s+/g, " ").trim();
function expectErrorPage(outcome, message) {
  if (outcome.kind === "post") fail(`${message}: Gatehouse posted a SAMLResponse to ${outcome.url}`, outcome.trail);
  check((outcome.kind === "error" || outcome.kind === "page") && outcome.status >= 400 && outcome.status < 500,
    `${message}: an error page (${outcome.status}: ${JSON.stringify(pageText(outcome.body ?? "").slice(0, 90))}), nothing posted to any ACS`, outcome.trail);
}

// ------------------------------------------------------------------------------- XML helpers
const parseXml = (xml) => new DOMParser().parseFromString(xml, "text/xml");
const serialize = (doc) => new XMLSerializer().serializeToString(doc);
const b64 = (text) => Buffer.from(text, "utf8").toString("base64");
const unb64 = (text) => Buffer.from(text, "base64").toString("utf8");
// xmldom 0.8 NodeLists are not iterable.
const list = (nodes) => Array.from({ length: nodes.length }, (_, i) => nodes.item(i));
const children = (node, ns, name) => list(node.childNodes).filter((c) => c.nodeType === 1 && c.namespaceURI === ns && c.localName === name);
function child(node, ns, name) {
  const found = children(node, ns, name);
  if (found.length !== 1) fail(`expected one ${name} under ${node.localName}, found ${found.length}`);
  return found[0];
}
const assertionOf = (doc) => child(doc.documentElement, NS.saml, "Assertion");
function emailValue(assertion) {
  const statement = child(assertion, NS.saml, "AttributeStatement");
  const attribute = children(statement, NS.saml, "Attribute").find((a) => a.getAttribute("Name") === ATTR.email);
  return child(attribute, NS.saml, "AttributeValue");
}
function setText(node, text) {
  while (node.firstChild) node.removeChild(node.firstChild);
  node.appendChild(node.ownerDocument.createTextNode(text));
}
function evilCopy(assertion) {
  const evil = assertion.cloneNode(true);
  for (const sig of children(evil, NS.ds, "Signature")) evil.removeChild(sig);
  evil.setAttribute("ID", "_evil" + Math.random().toString(16).slice(2));
  setText(emailValue(evil), EVIL_EMAIL);
  const nameId = child(child(evil, NS.saml, "Subject"), NS.saml, "NameID");
  setText(nameId, "evil-" + nameId.textContent);
  return evil;
}
function facts(xml) {
  const doc = parseXml(xml);
  const root = doc.documentElement;
  const assertions = children(root, NS.saml, "Assertion");
  const out = {
    inResponseTo: root.getAttribute("InResponseTo") || null,
    responseSigned: children(root, NS.ds, "Signature").length === 1,
    status: list(root.getElementsByTagNameNS(NS.samlp, "StatusCode")).map((c) => c.getAttribute("Value")),
  };
  if (assertions.length) {
    const a = assertions[0];
    out.nameId = child(child(a, NS.saml, "Subject"), NS.saml, "NameID").textContent;
    out.sessionIndex = child(a, NS.saml, "AuthnStatement").getAttribute("SessionIndex");
    out.email = emailValue(a).textContent;
  }
  return out;
}

// Each returns a tampered copy of the Response XML that a correct SP must refuse.
const TAMPERS = [
  ["email attribute changed inside the signed assertion", (doc) => setText(emailValue(assertionOf(doc)), EVIL_EMAIL)],
  ["NameID changed inside the signed assertion", (doc) => {
    const n = child(child(assertionOf(doc), NS.saml, "Subject"), NS.saml, "NameID");
    setText(n, "evil-" + n.textContent);
  }],
  ["XSW3: unsigned evil assertion before the signed one", (doc) => {
    const signed = assertionOf(doc);
    doc.documentElement.insertBefore(evilCopy(signed), signed);
  }],
  ["XSW4: evil assertion wrapping the signed one", (doc) => {
    const signed = assertionOf(doc);
    const evil = evilCopy(signed);
    doc.documentElement.replaceChild(evil, signed);
    evil.appendChild(signed);
  }],
  ["XSW6: modified assertion, untouched copy inside ds:Signature/ds:Object", (doc) => {
    const signed = assertionOf(doc);
    const original = signed.cloneNode(true);
    for (const sig of children(original, NS.ds, "Signature")) original.removeChild(sig);
    const signature = child(signed, NS.ds, "Signature");
    const object = doc.createElementNS(NS.ds, "ds:Object");
    object.appendChild(original);
    signature.appendChild(object);
    setText(emailValue(signed), EVIL_EMAIL);
  }],
  ["all signatures stripped", (doc) => {
    for (const sig of list(doc.getElementsByTagNameNS(NS.ds, "Signature"))) sig.parentNode.removeChild(sig);
    setText(emailValue(assertionOf(doc)), EVIL_EMAIL);
  }],
];
const RESPONSE_TAMPERS = [
  ["Response Destination changed under the Response signature", (doc) => doc.documentElement.setAttribute("Destination", "https://evil.example/acs")],
  ["Response IssueInstant changed under the Response signature", (doc) => {
    const root = doc.documentElement;
    root.setAttribute("IssueInstant", root.getAttribute("IssueInstant").replace(/(\d\d)Z$/, (_, s) => String((Number(s) + 1) % 60).padStart(2, "0") + "Z"));
  }],
];
function tampered(xml, mutate) {
  const doc = parseXml(xml);
  mutate(doc);
  return serialize(doc);
}

// ------------------------------------------------------------------------------ node-saml glue
/** node-saml's CacheProvider interface (its own in-memory provider is not exported), kept
 *  here so that the suite can see and restore outstanding request ids. */
class RequestCache {
  constructor() { this.items = new Map(); }
  async saveAsync(key, value) {
    if (this.items.has(key)) return null;
    const item = { value, createdAt: Date.now() };
    this.items.set(key, item);
    return item;
  }
  async getAsync(key) { return this.items.get(key)?.value ?? null; }
  async removeAsync(key) {
    const item = this.items.get(key);
    this.items.delete(key);
    return item ? key : null;
  }
}

function pemOf(b64cert) {
  return `-----BEGIN CERTIFICATE-----\n${b64cert.match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`;
}
function idpCertificates(metadataXml) {
  const doc = parseXml(metadataXml);
  const idp = child(doc.documentElement, NS.md, "IDPSSODescriptor");
  const certs = [];
  for (const kd of children(idp, NS.md, "KeyDescriptor")) {
    const use = kd.getAttribute("use");
    if (use && use !== "signing") continue;
    for (const c of list(kd.getElementsByTagNameNS(NS.ds, "X509Certificate"))) certs.push(c.textContent.replace(/\s+/g, ""));
  }
  return certs;
}
function requestIdOf(url) {
  const encoded = new URL(url).searchParams.get("SAMLRequest");
  const xml = inflateRawSync(Buffer.from(encoded, "base64")).toString("utf8");
  return parseXml(xml).documentElement.getAttribute("ID");
}

/** Runs node-saml on a posted form; returns { result } or { error }. */
async function validate(saml, fields) {
  try {
    return { result: await saml.validatePostResponseAsync({ ...fields }) };
  } catch (error) {
    return { error: String(error?.message ?? error) };
  }
}
async function expectValid(saml, fields, message) {
  const { result, error } = await validate(saml, fields);
  if (error) fail(`${message}: node-saml rejected a genuine Gatehouse Response: ${error}`, unb64(fields.SAMLResponse).slice(0, 4000));
  if (!result?.profile) fail(`${message}: node-saml returned no profile`, result);
  ok(`${message}: node-saml accepted the Response`);
  return result.profile;
}
async function expectRejected(saml, fields, message, { cache, requestId, notBecause } = {}) {
  // node-saml forgets a request id once a Response for it was processed (or refused): put it
  // back before each attempt, so each refusal is about the tampering, not a spent id.
  if (cache && requestId) { await cache.removeAsync(requestId); await cache.saveAsync(requestId, new Date().toISOString()); }
  const { result, error } = await validate(saml, fields);
  if (!error) fail(`${message}: node-saml ACCEPTED it`, { nameID: result?.profile?.nameID, email: result?.profile?.[ATTR.email] });
  if (notBecause && error.includes(notBecause)) fail(`${message}: refused, but only because of ${notBecause}`, error);
  ok(`${message}: rejected (${error.slice(0, 140)})`);
  return error;
}

function spOptions(cfg, app, certs, cache, extra = {}) {
  return {
    entryPoint: cfg.sso_url,
    issuer: app.entity_id,
    callbackUrl: app.acs,
    audience: app.entity_id,
    idpCert: certs.map(pemOf),
    idpIssuer: cfg.issuer,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    validateInResponseTo: ValidateInResponseTo.always,
    requestIdExpirationPeriodMs: 5 * 60 * 1000,
    cacheProvider: cache,
    identifierFormat: PERSISTENT,
    authnContext: [PPT],
    racComparison: "exact",
    signatureAlgorithm: "sha256",
    digestAlgorithm: "sha256",
    acceptedClockSkewMs: 0,
    ...extra,
  };
}

// -------------------------------------------------------------------------------------- the run
async function main(cfg) {
  const user = cfg.user;

  step("IdP metadata: both signing certificates become node-saml's idpCert");
  const res = await fetch(cfg.metadata_url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  checkEqual(res.status, 200, "IdP metadata served");
  const metadata = await res.text();
  const certs = idpCertificates(metadata);
  checkEqual(certs.length, 2, "two signing certificates (active and next)");
  checkEqual(parseXml(metadata).documentElement.getAttribute("entityID"), cfg.issuer, "entityID is the tenant issuer");

  // ---------------------------------------------------------------- SP 1: Redirect, Assertion signed
  const app = cfg.apps["node-saml"];
  const cache = new RequestCache();
  const saml = new SAML(spOptions(cfg, app, certs, cache));

  step("SP-initiated sign-in, HTTP-Redirect binding, unsigned AuthnRequest by node-saml");
  const url = await saml.getAuthorizeUrlAsync("node-relay", undefined, {});
  check(url.startsWith(cfg.sso_url + "?"), "node-saml sends the browser to Gatehouse's SSO endpoint");
  const requestId = requestIdOf(url);
  check(await cache.getAsync(requestId), "node-saml cached the request id (validateInResponseTo: always)");
  const browser = new Browser(cfg);
  const outcome = expectPostTo(await browser.run("GET", url), app.acs, "sign-in");
  check(outcome.loginPages >= 2, "the user went through the e-mail and password pages");
  checkEqual(outcome.fields.RelayState, "node-relay", "RelayState echoed");
  const xml = unb64(outcome.fields.SAMLResponse);
  const f = facts(xml);
  check(!f.responseSigned, "only the Assertion is signed for this SP");

  // Tampered copies first, while the request id is outstanding.
  step("tampered copies of the Response (each must be rejected)");
  for (const [label, mutate] of TAMPERS) {
    await expectRejected(saml, { SAMLResponse: b64(tampered(xml, mutate)) }, label, { cache, requestId, notBecause: "InResponseTo" });
  }
  const otherCache = new RequestCache();
  await otherCache.saveAsync(requestId, new Date().toISOString());
  const attackerCert = readFileSync(cfg.apps["node-saml-signed"].cert_file, "utf8"); // any other certificate
  const wrong = new SAML({ ...spOptions(cfg, app, certs, otherCache), idpCert: attackerCert });
  await expectRejected(wrong, outcome.fields, "negative control: node-saml trusting another IdP certificate");
  const otherSp = new SAML(spOptions(cfg, { ...app, entity_id: app.entity_id + "/other" }, certs, otherCache));
  await expectRejected(otherSp, outcome.fields, "Audience of another SP", { cache: otherCache, requestId });
  const unknownId = new SAML(spOptions(cfg, app, certs, new RequestCache()));
  await expectRejected(unknownId, outcome.fields, "InResponseTo not in the request cache");
  await cache.removeAsync(requestId);
  await cache.saveAsync(requestId, new Date().toISOString());

  step("the genuine Response");
  const profile = await expectValid(saml, { ...outcome.fields, SAMLResponse: b64(xml) }, "genuine Response");
  checkEqual(profile.issuer, cfg.issuer, "Assertion Issuer is the IdP entityID");
  checkEqual(profile.nameIDFormat, PERSISTENT, "NameID format persistent");
  checkEqual(profile.nameID, f.nameId, "node-saml's NameID is the assertion's");
  check(profile.nameID !== user.email && !profile.nameID.includes("@"), "NameID is opaque");
  checkEqual(profile.spNameQualifier, app.entity_id, "SPNameQualifier");
  checkEqual(profile.sessionIndex, f.sessionIndex, "SessionIndex");
  checkEqual(profile.inResponseTo, requestId, "InResponseTo is node-saml's request id");
  checkEqual(profile[ATTR.email], user.email, "email attribute");
  checkEqual(profile[ATTR.display], user.name, "displayname with markup arrives unchanged (I5)");
  checkEqual(profile[ATTR.surname], user.family_name, "surname with markup (I5)");
  checkEqual(profile[ATTR.oid], user.id, "objectidentifier attribute");
  checkEqual(profile[ATTR.tenant], cfg.tenant.id, "tenantid attribute");
  await expectRejected(saml, outcome.fields, "replay: the same Response again (its request id is spent)");

  // ---------------------------------------------------- SP 2: POST, signed requests, Response signed
  const app2 = cfg.apps["node-saml-signed"];
  const cache2 = new RequestCache();
  const options2 = spOptions(cfg, app2, certs, cache2, {
    wantAuthnResponseSigned: true,
    privateKey: readFileSync(app2.key_file, "utf8"),
    publicCert: readFileSync(app2.cert_file, "utf8"),
    authnRequestBinding: "HTTP-POST",
    // node-saml deflates HTTP-POST messages unless told not to; SAML Bindings §3.5.4 says
    // base64 only (checked below: Gatehouse refuses the deflated form).
    skipRequestCompression: true,
    logoutUrl: cfg.slo_url,
    logoutCallbackUrl: app2.slo,
  });
  const saml2 = new SAML(options2);

  step("SP-initiated sign-in, HTTP-POST binding, AuthnRequest signed by node-saml (enveloped, RSA-SHA256)");
  const html = await saml2.getAuthorizeFormAsync("post-relay");
  const [form] = parseForms(html, cfg.sso_url);
  checkEqual(form?.action, cfg.sso_url, "node-saml's form posts to Gatehouse's SSO endpoint");
  const requestXml = unb64(form.hidden.SAMLRequest);
  const request = parseXml(requestXml).documentElement;
  const requestId2 = request.getAttribute("ID");
  check(children(request, NS.ds, "Signature").length === 1, "the AuthnRequest carries an enveloped signature");
  const browser2 = new Browser(cfg);
  const outcome2 = expectPostTo(await browser2.run("POST", form.action, form.hidden, { spPage: spPage(app2, html) }), app2.acs, "sign-in");
  check(outcome2.loginPages >= 2, "the user went through the e-mail and password pages");
  checkEqual(outcome2.fields.RelayState, "post-relay", "RelayState echoed");
  const xml2 = unb64(outcome2.fields.SAMLResponse);
  const f2 = facts(xml2);
  check(f2.responseSigned, "the Response carries its own signature (--saml-sign-response)");
  checkEqual(f2.inResponseTo, requestId2, "InResponseTo is node-saml's request id");

  step("tampered copies of the signed Response (each must be rejected)");
  for (const [label, mutate] of [...TAMPERS, ...RESPONSE_TAMPERS]) {
    await expectRejected(saml2, { SAMLResponse: b64(tampered(xml2, mutate)) }, label, { cache: cache2, requestId: requestId2, notBecause: "InResponseTo" });
  }
  // An Assertion-only-signed Response is not enough for an SP that wants the Response signed.
  const responseSignatureStripped = tampered(xml2, (doc) => doc.documentElement.removeChild(child(doc.documentElement, NS.ds, "Signature")));
  await expectRejected(saml2, { SAMLResponse: b64(responseSignatureStripped) }, "Response signature removed (wantAuthnResponseSigned)", { cache: cache2, requestId: requestId2, notBecause: "InResponseTo" });
  await cache2.removeAsync(requestId2);
  await cache2.saveAsync(requestId2, new Date().toISOString());
  const profile2 = await expectValid(saml2, outcome2.fields, "genuine signed Response");
  checkEqual(profile2[ATTR.email], user.email, "email attribute");
  checkEqual(profile2.sessionIndex, f2.sessionIndex, "SessionIndex");
  check(profile2.nameID !== profile.nameID, "another SP, another persistent NameID (pairwise)");

  step("POST-binding request with a live session: no sign-in page");
  const html3 = await saml2.getAuthorizeFormAsync("again");
  const [form3] = parseForms(html3, cfg.sso_url);
  const outcome3 = expectPostTo(await browser2.run("POST", form3.action, form3.hidden, { spPage: spPage(app2, html3) }), app2.acs, "second sign-in");
  checkEqual(outcome3.loginPages, 0, "no sign-in page with a live session");
  const profile3 = await expectValid(saml2, outcome3.fields, "second Response");
  checkEqual(profile3.nameID, profile2.nameID, "same NameID");

  step("a POST-binding request changed after node-saml signed it is refused (I2)");
  const html4 = await saml2.getAuthorizeFormAsync("tampered");
  const [form4] = parseForms(html4, cfg.sso_url);
  const altered = parseXml(unb64(form4.hidden.SAMLRequest));
  altered.documentElement.setAttribute("ForceAuthn", "true");
  expectErrorPage(await browser2.run("POST", form4.action, { ...form4.hidden, SAMLRequest: b64(serialize(altered)) }, { spPage: spPage(app2, html4) }),
    "AuthnRequest altered under its signature");
  const deflating = new SAML(spOptions(cfg, app2, certs, new RequestCache(), {
    authnRequestBinding: "HTTP-POST", privateKey: readFileSync(app2.key_file, "utf8"),
  }));
  const deflatedHtml = await deflating.getAuthorizeFormAsync("deflated");
  const [deflated] = parseForms(deflatedHtml, cfg.sso_url);
  expectErrorPage(await browser2.run("POST", deflated.action, deflated.hidden, { spPage: spPage(app2, deflatedHtml) }),
    "node-saml's default HTTP-POST message (deflated, against Bindings §3.5.4) is refused cleanly");
  const unsignedSp = new SAML(spOptions(cfg, app2, certs, new RequestCache(), { authnRequestBinding: "HTTP-POST", skipRequestCompression: true }));
  const html5 = await unsignedSp.getAuthorizeFormAsync("unsigned");
  const [form5] = parseForms(html5, cfg.sso_url);
  check(!unb64(form5.hidden.SAMLRequest).includes("Signature"), "node-saml without a key sends an unsigned request");
  expectErrorPage(await browser2.run("POST", form5.action, form5.hidden, { spPage: spPage(app2, html5) }),
    "unsigned AuthnRequest for an SP registered with --saml-requests-signed");

  step("SP-initiated single logout: signed LogoutRequest, signed LogoutResponse (HTTP-Redirect)");
  // skipRequestCompression (needed above for the POST binding) also switches off DEFLATE on
  // node-saml's HTTP-Redirect messages, which the Redirect binding requires (Bindings
  // §3.4.4.1): logout goes through an instance of the same SP with compression on.
  const slo = new SAML({ ...options2, skipRequestCompression: false });
  const logoutUrl = await slo.getLogoutUrlAsync(profile2, "bye", {});
  const sent = new URL(logoutUrl).searchParams;
  checkEqual(sent.get("SigAlg"), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "node-saml signed the LogoutRequest");
  const end = await browser2.run("GET", logoutUrl, undefined, { stopAt: app2.slo });
  if (end.kind !== "redirect") {
    const logoutRequest = inflateRawSync(Buffer.from(sent.get("SAMLRequest"), "base64")).toString("utf8");
    fail("Gatehouse did not answer node-saml's LogoutRequest with a redirect to the SP's SLO endpoint",
      { kind: end.kind, status: end.status, page: pageText(end.body ?? ""), trail: end.trail, logoutRequest });
  }
  ok("Gatehouse redirects to the SP's SLO endpoint");
  const query = new URL(end.url).search.slice(1);
  const params = Object.fromEntries(new URLSearchParams(query));
  check(params.Signature && params.SigAlg, "the LogoutResponse is signed (Signature, SigAlg)", Object.keys(params));
  checkEqual(params.RelayState, "bye", "RelayState echoed");
  const tamperedQuery = query.replace("RelayState=bye", "RelayState=byf");
  try {
    await slo.validateRedirectAsync(Object.fromEntries(new URLSearchParams(tamperedQuery)), tamperedQuery);
    fail("node-saml accepted a LogoutResponse whose query changed after signing");
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    ok(`a LogoutResponse query changed after signing is rejected (${String(error.message).slice(0, 80)})`);
  }
  const logout = await slo.validateRedirectAsync(params, query);
  checkEqual(logout.loggedOut, true, "node-saml validated the LogoutResponse (signature, Issuer, InResponseTo, Success)");
  const html6 = await saml2.getAuthorizeFormAsync("after");
  const [form6] = parseForms(html6, cfg.sso_url);
  const after = await browser2.run("POST", form6.action, form6.hidden, { spPage: spPage(app2, html6), signIn: false });
  checkEqual(after.kind, "login", "after SLO the next request shows the sign-in page again");
}

const configPath = process.argv[2] ?? process.env.CONFORMANCE_CONFIG;
if (!configPath) {
  console.error("usage: node sp.mjs CONFIG.json");
  process.exit(2);
}
const started = Date.now();
try {
  await main(JSON.parse(readFileSync(configPath, "utf8")));
  console.log(`\nnode-saml: ${passed} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, 0 failed`);
} catch (error) {
  if (error instanceof CheckFailed) console.error(`\nFAIL ${error.message}`);
  else console.error(`\nFAIL [${currentStep}] unexpected error: ${error?.stack ?? error}`);
  console.log(`${passed} passed, 1 failed`);
  process.exit(1);
}
