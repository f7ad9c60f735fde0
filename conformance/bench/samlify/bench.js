#!/usr/bin/env node
// Peer and helpers for conformance/bench/saml.sh: samlify 2 building signed SAML Responses
// (RSA-SHA256 signature, SHA-256 digest, exclusive c14n) in-process with
// idp.createLoginResponse(sp, requestInfo, 'post', user, customTagReplacement), plus the two
// helpers the runner needs for the Gatehouse side (an HTTP-Redirect AuthnRequest, the sign-in of the
// session the load uses, and checking that a Response is signed and that its signatures verify).
//
//   node bench.js run --key K --cert C [--procs N] [--seconds S] [--warmup W] [--sign-response]
//       forks N worker processes; each builds responses back to back for W s (not counted),
//       then for S s; prints one JSON line {procs, responses, seconds, rps, rss_peak_kb, ...}.
//   node bench.js sample --key K --cert C [--sign-response] > response.xml
//       one response, XML (what the benchmark loop produces, decoded).
//   node bench.js authnrequest --sso URL --acs URL --issuer ENTITY_ID
//       prints the SAMLRequest query value (raw DEFLATE, base64, percent-encoded), IssueInstant now.
//   node bench.js signin --url SSO_URL --email E --password P [--out FILE]
//       signs in at Gatehouse as a person's browser does, through conformance/lib/browser.mjs (Fetch
//       Metadata, and on each form POST the Origin its sign-in page's referrer policy allows): the
//       SSO URL's 303 to the sign-in page, the e-mail and password steps, up to the page holding
//       a SAMLResponse (written to FILE); prints the session's Cookie header for Gatehouse.
//   node bench.js verify --file F [--cert PEM_OR_B64] [--expect-response-signed 0|1]
//   node bench.js verify [--cert ...] [--expect-response-signed 0|1] F1 F2 ...   (all must pass)
//       F is an HTML page holding a SAMLResponse form field, or the XML itself. Checks that every
//       ds:Signature uses rsa-sha256 + sha256 + exc-c14n, that its KeyInfo certificate is one of
//       --cert's (a PEM file, or base64 DER certificates one per line, as in IdP metadata) and that
//       it verifies (xml-crypto); prints a JSON summary; exits 1 on any failure.
//
// Schema validation: samlify only validates when it *parses* a message (parseLoginRequest,
// parseLoginResponse...). createLoginResponse never calls the validator, so none is installed and
// none is set here: the loop measures building + signing only (no AuthnRequest parsing, no HTTP),
// which favours samlify against Gatehouse's full HTTP round trip.
'use strict';

const fs = require('fs');
const zlib = require('zlib');
const crypto = require('crypto');
const { fork } = require('child_process');

const SP_ENTITY = 'https://sp.bench.example/metadata';
const SP_ACS = 'http://127.0.0.1/acs';
const IDP_ENTITY = 'https://idp.bench.example/bench';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const ATTR_URI = 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri';

function args(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const k = a.slice(2);
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) out[k] = true;
      else { out[k] = v; i++; }
    } else out._.push(a);
  }
  return out;
}

function die(msg) {
  process.stderr.write(`bench.js: ${msg}\n`);
  process.exit(1);
}

// ------------------------------------------------------------------ samlify IdP + SP
// The same shape as Gatehouse's Response: Issuer (entity format), Status, then an Assertion with
// Issuer, Subject (persistent NameID with qualifiers, bearer confirmation), Conditions with
// Audience, AuthnStatement (password context) and 9 attributes (Gatehouse's claim URIs).
const ATTRIBUTES = [
  ['http://schemas.microsoft.com/identity/claims/tenantid', 'tenantid'],
  ['http://schemas.microsoft.com/identity/claims/objectidentifier', 'objectid'],
  ['http://schemas.microsoft.com/identity/claims/identityprovider', 'idp'],
  ['http://schemas.microsoft.com/identity/claims/displayname', 'displayname'],
  ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', 'email'],
  ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', 'upn'],
  ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname', 'givenname'],
  ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname', 'surname'],
  ['http://schemas.microsoft.com/claims/authnmethodsreferences', 'authnmethods'],
];

const LOGIN_RESPONSE_TEMPLATE =
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">' +
  '<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{Issuer}</saml:Issuer>' +
  '<samlp:Status><samlp:StatusCode Value="{StatusCode}"/></samlp:Status>' +
  '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}">' +
  '<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{Issuer}</saml:Issuer>' +
  '<saml:Subject><saml:NameID Format="{NameIDFormat}" NameQualifier="{Issuer}" SPNameQualifier="{Audience}">{NameID}</saml:NameID>' +
  '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{SubjectConfirmationDataNotOnOrAfter}" Recipient="{SubjectRecipient}" InResponseTo="{InResponseTo}"/></saml:SubjectConfirmation></saml:Subject>' +
  '<saml:Conditions NotBefore="{ConditionsNotBefore}" NotOnOrAfter="{ConditionsNotOnOrAfter}"><saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>' +
  '<saml:AuthnStatement AuthnInstant="{AuthnInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>' +
  '{AttributeStatement}</saml:Assertion></samlp:Response>';

function pemBody(pem) {
  return pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
}

function setup(opts) {
  const samlify = require('samlify');
  const privateKey = fs.readFileSync(opts.key, 'utf8');
  const cert = fs.readFileSync(opts.cert, 'utf8');
  const idp = samlify.IdentityProvider({
    entityID: IDP_ENTITY,
    privateKey,
    signingCert: cert,
    // Explicit, although 2.13's default is the same: older samlify releases defaulted to RSA-SHA1.
    // The digest follows the signature algorithm (libsaml getDigestMethod): sha256 here.
    requestSignatureAlgorithm: RSA_SHA256,
    nameIDFormat: [PERSISTENT],
    singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${IDP_ENTITY}/saml/sso` }],
    // (without an SLO endpoint samlify prints a warning at every start)
    singleLogoutService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${IDP_ENTITY}/saml/slo` }],
    loginResponseTemplate: {
      context: LOGIN_RESPONSE_TEMPLATE,
      attributes: ATTRIBUTES.map(([name, tag]) => ({ name, valueTag: tag, nameFormat: ATTR_URI, valueXsiType: 'xs:string' })),
    },
  });
  const sp = samlify.ServiceProvider({
    entityID: SP_ENTITY,
    assertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: SP_ACS }],
    wantAssertionsSigned: true,
    wantMessageSigned: !!opts.signResponse,
    // exclusive c14n after enveloped-signature: samlify's default, and what Gatehouse uses
    transformationAlgorithms: [ENVELOPED, EXC_C14N],
  });
  const { SamlLib } = samlify;
  const tenantId = crypto.randomUUID();
  const user = {
    id: crypto.randomUUID(), email: 'user@bench.example', displayName: 'Bench User',
    givenName: 'Bench', surname: 'User', sessionId: crypto.randomUUID(),
  };
  // InResponseTo of the answered AuthnRequest (samlify's requestInfo.extract.request.id)
  const requestInfo = { extract: { request: { id: '_' + crypto.randomBytes(20).toString('hex') } } };
  const genId = () => '_' + crypto.randomBytes(20).toString('hex');
  // samlify ignores loginResponseTemplate unless a customTagReplacement is passed: without one it
  // uses its built-in template, which has no AuthnStatement and an empty AttributeStatement.
  const customTagReplacement = (template) => {
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000);
    const id = genId();
    const nameId = crypto.createHash('sha256').update(`saml\x1f${tenantId}\x1f${SP_ENTITY}\x1f${user.id}`).digest('base64url');
    const values = {
      ID: id,
      AssertionID: genId(),
      Destination: SP_ACS,
      Audience: SP_ENTITY,
      SubjectRecipient: SP_ACS,
      Issuer: IDP_ENTITY,
      IssueInstant: now.toISOString(),
      StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
      ConditionsNotBefore: new Date(now.getTime() - 60000).toISOString(),
      ConditionsNotOnOrAfter: later.toISOString(),
      SubjectConfirmationDataNotOnOrAfter: later.toISOString(),
      NameIDFormat: PERSISTENT,
      NameID: nameId,
      InResponseTo: requestInfo.extract.request.id,
      AuthnInstant: now.toISOString(),
      SessionIndex: user.sessionId,
      attrTenantid: tenantId,
      attrObjectid: user.id,
      attrIdp: IDP_ENTITY,
      attrDisplayname: user.displayName,
      attrEmail: user.email,
      attrUpn: user.email,
      attrGivenname: user.givenName,
      attrSurname: user.surname,
      attrAuthnmethods: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
    };
    return { id, context: SamlLib.replaceTagsByValue(template, values) };
  };
  const once = async () => {
    const { context } = await idp.createLoginResponse(sp, requestInfo, 'post', user, customTagReplacement);
    return context; // base64 of the signed Response
  };
  return { once };
}

// ------------------------------------------------------------------ worker / orchestrator
async function worker(opts) {
  const { once } = setup(opts);
  const warm = Number(opts.warmup) * 1000;
  const secs = Number(opts.seconds) * 1000;
  let t = performance.now();
  const warmEnd = t + warm;
  while (performance.now() < warmEnd) await once();
  let n = 0;
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + secs;
  while ((t = performance.now()) < end) {
    const b64 = await once();
    bytes += b64.length;
    n++;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  process.send({
    responses: n, seconds: elapsed, cpu_s: (cpu.user + cpu.system) / 1e6,
    avg_b64_bytes: n ? Math.round(bytes / n) : 0, rss_end_kb: Math.round(process.memoryUsage().rss / 1024),
  });
}

function readStatusKb(pid, field) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

async function run(opts) {
  const procs = Number(opts.procs || 1);
  const childArgs = ['worker', '--key', opts.key, '--cert', opts.cert, '--seconds', String(opts.seconds || 10), '--warmup', String(opts.warmup || 2)];
  if (opts['sign-response']) childArgs.push('--sign-response');
  const children = [];
  for (let i = 0; i < procs; i++) children.push(fork(__filename, childArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const peaks = children.map(() => 0);
  let peakSum = 0;
  const sample = () => {
    let sum = 0;
    children.forEach((c, i) => { const r = readStatusKb(c.pid, 'VmRSS'); peaks[i] = Math.max(peaks[i], r); sum += r; });
    peakSum = Math.max(peakSum, sum);
  };
  const timer = setInterval(sample, 200);
  const stop = () => children.forEach((c) => { try { c.kill('SIGTERM'); } catch { /* gone */ } });
  process.on('SIGTERM', () => { stop(); process.exit(143); });
  process.on('SIGINT', () => { stop(); process.exit(130); });
  const results = await Promise.all(children.map((c) => new Promise((resolve, reject) => {
    let msg = null;
    c.on('message', (m) => { msg = m; });
    c.on('exit', (code, signal) => (msg && code === 0 ? resolve(msg) : reject(new Error(`worker ${c.pid} exited ${code ?? signal}`))));
  }))).catch((e) => { stop(); die(e.message); });
  clearInterval(timer);
  const responses = results.reduce((a, r) => a + r.responses, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  const rps = results.reduce((a, r) => a + r.responses / r.seconds, 0);
  process.stdout.write(JSON.stringify({
    procs, responses, seconds: Number(seconds.toFixed(3)), rps: Number(rps.toFixed(1)),
    rps_each_proc: results.map((r) => Number((r.responses / r.seconds).toFixed(1))),
    avg_b64_bytes: results[0].avg_b64_bytes,
    rss_peak_kb: peakSum, rss_peak_kb_each_proc: peaks,
    // CPU of the workers over the measured window only (process.cpuUsage), in cores
    cpu_cores: Number((results.reduce((a, r) => a + r.cpu_s / r.seconds, 0)).toFixed(2)),
  }) + '\n');
}

// ------------------------------------------------------------------ helpers for the runner
function authnRequest(opts) {
  const id = '_' + crypto.randomBytes(20).toString('hex');
  const xml =
    `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ` +
    `ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')}" ` +
    `Destination="${opts.sso}" AssertionConsumerServiceURL="${opts.acs}" ` +
    `ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
    `<saml:Issuer>${opts.issuer}</saml:Issuer></samlp:AuthnRequest>`;
  process.stdout.write(encodeURIComponent(zlib.deflateRawSync(Buffer.from(xml)).toString('base64')) + '\n');
}

function htmlUnescape(s) {
  return s.replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function verifyOne(file, opts, trusted) {
  const fail = (msg) => { throw new Error(`${file}: ${msg}`); };
  const { DOMParser } = require('@xmldom/xmldom');
  const xpath = require('xpath');
  const { SignedXml } = require('xml-crypto');
  const text = fs.readFileSync(file, 'utf8');
  let xml = text;
  if (!text.trimStart().startsWith('<?xml') && !text.trimStart().startsWith('<samlp:')) {
    const m = text.match(/name="SAMLResponse"\s+value="([^"]+)"/);
    if (!m) fail('no SAMLResponse form field in the page');
    xml = Buffer.from(htmlUnescape(m[1]), 'base64').toString('utf8');
  }
  if (!xml.includes('SignatureValue')) fail('the Response has no SignatureValue');
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const sel = xpath.useNamespaces({ ds: 'http://www.w3.org/2000/09/xmldsig#', samlp: 'urn:oasis:names:tc:SAML:2.0:protocol', saml: 'urn:oasis:names:tc:SAML:2.0:assertion' });
  const status = sel('string(/samlp:Response/samlp:Status/samlp:StatusCode/@Value)', doc);
  if (status !== 'urn:oasis:names:tc:SAML:2.0:status:Success') fail(`status is ${status}`);
  const sigs = sel('//ds:Signature', doc);
  const responseSigned = sel('/samlp:Response/ds:Signature', doc).length === 1;
  const assertionSigned = sel('/samlp:Response/saml:Assertion/ds:Signature', doc).length === 1;
  if (!assertionSigned) fail('the Assertion is not signed');
  if (opts['expect-response-signed'] !== undefined && String(Number(responseSigned)) !== String(opts['expect-response-signed'])) {
    fail(`Response signed: ${responseSigned}, expected ${opts['expect-response-signed']}`);
  }
  const details = [];
  for (const sig of sigs) {
    const alg = sel('string(ds:SignedInfo/ds:SignatureMethod/@Algorithm)', sig);
    const digest = sel('string(ds:SignedInfo/ds:Reference/ds:DigestMethod/@Algorithm)', sig);
    const c14n = sel('string(ds:SignedInfo/ds:CanonicalizationMethod/@Algorithm)', sig);
    if (alg !== RSA_SHA256) fail(`SignatureMethod ${alg}, want rsa-sha256`);
    if (digest !== SHA256) fail(`DigestMethod ${digest}, want sha256`);
    if (c14n !== EXC_C14N) fail(`CanonicalizationMethod ${c14n}, want exc-c14n`);
    const embedded = sel('string(ds:KeyInfo/ds:X509Data/ds:X509Certificate)', sig).replace(/\s+/g, '');
    let b64 = embedded;
    if (trusted) {
      if (embedded && !trusted.includes(embedded)) fail('the KeyInfo certificate is not one of the trusted ones');
      b64 = embedded || trusted[0];
    }
    if (!b64) fail('no certificate to verify with');
    const pem = `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
    const v = new SignedXml({ publicCert: pem });
    v.loadSignature(sig);
    let ok = false;
    try { ok = v.checkSignature(xml); } catch (e) { fail(`signature does not verify: ${e.message}`); }
    if (!ok) fail('signature does not verify');
    details.push({ on: sig.parentNode.localName, alg: 'rsa-sha256', digest: 'sha256' });
  }
  const attributes = sel('//saml:AttributeStatement/saml:Attribute', doc).length;
  return {
    ok: true, signatures: details, response_signed: responseSigned, assertion_signed: assertionSigned,
    attributes, xml_bytes: Buffer.byteLength(xml), cert_checked: trusted ? 'trusted' : 'embedded',
    id: sel('string(/samlp:Response/@ID)', doc), assertion_id: sel('string(/samlp:Response/saml:Assertion/@ID)', doc),
  };
}

// One file (--file F): prints its summary. Several (verify --cert C F1 F2 ...): every one must
// pass and every Response and Assertion ID must be distinct; prints counts.
function verify(opts) {
  // Trusted certificates: a PEM file (one or more certificates), or a file / string of base64 DER
  // certificates one per line (as an SP takes them from the IdP metadata: any signing key there).
  let trusted = null;
  if (opts.cert) {
    let text = String(opts.cert);
    if (fs.existsSync(text)) text = fs.readFileSync(text, 'utf8');
    const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
    trusted = (pems || text.split(/\n/)).map(pemBody).filter((c) => c.length > 0);
    if (trusted.length === 0) die('no certificate in --cert');
  }
  const files = opts.file ? [opts.file] : opts._.slice(1);
  if (files.length === 0) die('verify: no file');
  const results = [];
  try {
    for (const f of files) results.push(verifyOne(f, opts, trusted));
  } catch (e) { die(e.message); }
  if (files.length === 1) {
    const { id: _id, assertion_id: _aid, ...rest } = results[0];
    process.stdout.write(JSON.stringify(rest) + '\n');
    return;
  }
  const ids = new Set(results.flatMap((r) => [r.id, r.assertion_id]));
  if (ids.size !== 2 * results.length) die(`verify: ${2 * results.length - ids.size} repeated Response/Assertion IDs`);
  process.stdout.write(JSON.stringify({
    ok: true, files: results.length, signatures: results.reduce((n, r) => n + r.signatures.length, 0), distinct_ids: ids.size,
  }) + '\n');
}

async function signIn(opts) {
  const { CookieJar, headlessBrowser, parseForms } = await import('../../lib/browser.mjs');
  const origin = new URL(opts.url).origin;
  const { browse, follow } = headlessBrowser(origin);
  const jar = new CookieJar();
  let res = await browse(jar, opts.url);
  if (res.status !== 303 || !new URL(res.location ?? '/', origin).pathname.endsWith('/login')) {
    die(`signin: SSO without a session answered ${res.status} ${res.location ?? ''}, want 303 to the sign-in page`);
  }
  res = await follow(jar, res);
  for (let page = 0; page < 3; page++) {
    if (res.status !== 200) die(`signin: HTTP ${res.status} at ${res.url}`);
    if (res.text.includes('name="SAMLResponse"')) {
      if (opts.out) fs.writeFileSync(opts.out, res.text);
      process.stdout.write(`${jar.header(`${origin}/`)}\n`);
      return;
    }
    const form = parseForms(res.text, res.url).find((f) => f.method === 'post' && f.hidden.step);
    const fields = { ...form?.hidden };
    if (form?.hidden.step === 'identify') fields.email = opts.email;
    else if (form?.hidden.step === 'password') fields.password = opts.password;
    else die(`signin: a page without the e-mail or password step at ${res.url} (consent or error page?)`);
    res = await browse(jar, form.action, { method: 'POST', form: fields });
    if (form.hidden.step === 'identify' && res.status !== 303) die(`signin: the identify step answered HTTP ${res.status}, want 303`);
    res = await follow(jar, res);
  }
  die('signin: no SAMLResponse page after the password step');
}

async function main() {
  const opts = args(process.argv.slice(2));
  const cmd = opts._[0];
  opts.signResponse = !!opts['sign-response'];
  switch (cmd) {
    case 'run': if (!opts.key || !opts.cert) die('--key and --cert are required'); return run(opts);
    case 'worker': return worker(opts);
    case 'sample': {
      const { once } = setup(opts);
      process.stdout.write(Buffer.from(await once(), 'base64').toString('utf8') + '\n');
      return undefined;
    }
    case 'authnrequest': return authnRequest(opts);
    case 'signin': return signIn(opts);
    case 'verify': return verify(opts);
    default: die('usage: bench.js run|sample|authnrequest|signin|verify ... (see the header of this file)');
  }
}

main().catch((e) => die(e.stack || String(e)));
