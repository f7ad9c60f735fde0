//! Journey "saml-sp": Gatehouse as the SAML IdP of two real service providers, in Chromium.
//!
//! - python3-saml 1.16 (peers/python3_saml_app.py), a small web app in strict mode with
//!   rejectDeprecatedAlgorithm, whose settings ask for e-mail NameIDs: it is registered from the
//!   SP metadata python3-saml writes (get_sp_metadata: its certificate, its ACS, one NameIDFormat,
//!   emailAddress), so Gatehouse must take the NameID format from that metadata;
//! - Apache httpd + mod_auth_mellon 0.18 (apache/mellon.conf.in), registered from the metadata
//!   `mellon_create_metadata` writes (no NameIDFormat, so mellon asks for transient), protecting
//!   a CGI page that prints the MELLON_* environment (apache/mellon-claims.cgi);
//!
//! both served as http://localhost:PORT while Gatehouse is http://127.0.0.1:PORT: two sites (a
//! site ignores the port), so Gatehouse's self-submitting Response form makes a real cross-site
//! POST to the ACS, with the cookies a browser sends on one (no SameSite=Lax cookie).
//!
//! - SP-initiated: a member starts at python3-saml's /login, another at mellon's protected page:
//!   the sign-in pages, then the app's page shows what it verified (NameID and its format,
//!   attributes, InResponseTo); mellon must sign in on the first try;
//! - IdP-initiated: `{issuer}/saml/launch/{client_id}` into the other SP, and from My Apps (which
//!   lists both) into each: python3-saml sees an unsolicited Response, still with the e-mail NameID
//!   its metadata lists; mellon a new assertion (no request asked for a NameID format);
//! - without scripts (the page after the password parsed with script execution off), the
//!   Response form stays on screen: it is checked like every Gatehouse page, and its Continue
//!   button posts it to mellon.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'Gatehouse as SAML IdP of python3-saml and Apache mod_auth_mellon: SP- and IdP-initiated (launch URL, My Apps), cross-site ACS POST';

const HERE = dirname(fileURLToPath(import.meta.url));
const BROWSER = join(HERE, '..');
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NAMEID_TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
const ATTR = {
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  oid: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  tid: 'http://schemas.microsoft.com/identity/claims/tenantid',
};

/** The first value of a python3-saml attribute. */
const first = (attributes, uri) => (attributes?.[uri] ?? [])[0];

/** Gatehouse's IdP metadata, written to `file`. */
async function idpMetadata(h, file) {
  const res = await fetch(`${h.issuer}/saml/metadata`);
  h.checkEqual(res.status, 200, 'Gatehouse\'s IdP metadata answers');
  writeFileSync(file, await res.text());
}

async function startPython3Saml(h, S) {
  const port = await h.freePort();
  const origin = `http://localhost:${port}`;
  const dir = join(h.cfg.cli.cwd, 'python3-saml');
  mkdirSync(dir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', '/CN=python3-saml app (browser conformance)',
    '-keyout', join(dir, 'sp.key'), '-out', join(dir, 'sp.crt')], { stdio: 'ignore' });
  await idpMetadata(h, join(dir, 'idp-metadata.xml'));
  const config = {
    port,
    origin,
    entity_id: `${origin}/metadata`,
    acs: `${origin}/acs`,
    cert_file: join(dir, 'sp.crt'),
    key_file: join(dir, 'sp.key'),
    idp_metadata_file: join(dir, 'idp-metadata.xml'),
    nameid_format: NAMEID_EMAIL,
  };
  const cfgFile = join(dir, 'config.json');
  writeFileSync(cfgFile, JSON.stringify(config, null, 2));
  const app = join(BROWSER, 'peers', 'python3_saml_app.py');
  const metadata = execFileSync(h.cfg.python, ['-W', 'ignore', app, cfgFile, '--metadata'], { encoding: 'utf8', timeout: 30_000 });
  const nameIdFormats = [...metadata.matchAll(/<md:NameIDFormat>([^<]*)<\/md:NameIDFormat>/g)].map((m) => m[1].trim());
  h.checkEqual(JSON.stringify(nameIdFormats), JSON.stringify([NAMEID_EMAIL]), 'python3-saml\'s SP metadata lists one NameIDFormat, emailAddress');
  writeFileSync(join(dir, 'sp-metadata.xml'), metadata);
  const registered = h.cli(['app', 'create', '--tenant', h.slug, '--name', 'Supplier catalogue (python3-saml)', '--saml-metadata', join(dir, 'sp-metadata.xml')]);
  h.check(registered?.client_id && registered.saml?.entity_id === config.entity_id, 'gatehouse app create --saml-metadata registers python3-saml (its entityID from the metadata)', registered);
  h.note(`python3-saml registered: NameID format ${registered.saml?.nameid_format}, ACS ${JSON.stringify(registered.saml?.acs)}`);
  await h.spawn('python3-saml', h.cfg.python, ['-W', 'ignore', app, cfgFile], { ready: /"ready": true/ });
  S.p3 = { ...config, name: 'Supplier catalogue (python3-saml)', clientId: registered.client_id, login: `${origin}/login`, registered };
}

async function startMellon(h, S) {
  const port = await h.freePort();
  const origin = `http://localhost:${port}`;
  const dir = join(h.cfg.cli.cwd, `mellon-${port}`);
  const sp = join(dir, 'sp');
  for (const d of ['htdocs', 'cgi', 'run', 'sp']) mkdirSync(join(dir, d), { recursive: true });
  // mellon_create_metadata ENTITY-ID ENDPOINT-URL writes <entity>.key/.cert/.xml in the cwd.
  execFileSync('mellon_create_metadata', [`${origin}/mellon/metadata`, `${origin}/mellon`], { cwd: sp, stdio: 'ignore', timeout: 30_000 });
  for (const f of readdirSync(sp)) {
    const ext = f.split('.').pop();
    if (['key', 'cert', 'xml'].includes(ext)) renameSync(join(sp, f), join(sp, `sp.${ext}`));
  }
  const metadata = readFileSync(join(sp, 'sp.xml'), 'utf8');
  h.check(!/NameIDFormat/.test(metadata), 'mellon_create_metadata writes no NameIDFormat (so mellon asks for transient)');
  await idpMetadata(h, join(dir, 'idp-metadata.xml'));
  const registered = h.cli(['app', 'create', '--tenant', h.slug, '--name', 'Legacy wiki (mod_auth_mellon)', '--saml-metadata', join(sp, 'sp.xml')]);
  h.check(registered?.client_id && registered.saml?.entity_id === `${origin}/mellon/metadata`, 'gatehouse app create --saml-metadata registers mellon (its entityID from the metadata)', registered);
  h.note(`mellon registered: NameID format ${registered.saml?.nameid_format}, ACS ${JSON.stringify(registered.saml?.acs)}`);
  const conf = readFileSync(join(BROWSER, 'apache', 'mellon.conf.in'), 'utf8')
    .replaceAll('@DIR@', dir).replaceAll('@PORT@', String(port)).replaceAll('@LOG_LEVEL@', process.env.APACHE_MELLON_LOG_LEVEL ?? 'warn');
  writeFileSync(join(dir, 'httpd.conf'), conf);
  copyFileSync(join(BROWSER, 'apache', 'mellon-claims.cgi'), join(dir, 'cgi', 'claims.cgi'));
  chmodSync(join(dir, 'cgi', 'claims.cgi'), 0o755);
  writeFileSync(join(dir, 'htdocs', 'index.html'), '<!doctype html><html lang="en"><title>mellon test app</title><p>mod_auth_mellon test app</p></html>\n');
  // The children (www-data) read the SP key, certificate and both metadata files: traversal for
  // the directories, the key readable by the group www-data only.
  const gid = Number(execFileSync('id', ['-g', 'www-data'], { encoding: 'utf8' }).trim());
  for (const d of [dir, sp, join(dir, 'htdocs'), join(dir, 'cgi')]) chmodSync(d, 0o755);
  chmodSync(join(dir, 'run'), 0o700);
  chownSync(join(sp, 'sp.key'), 0, gid);
  chmodSync(join(sp, 'sp.key'), 0o640);
  for (const f of [join(sp, 'sp.cert'), join(sp, 'sp.xml'), join(dir, 'idp-metadata.xml')]) chmodSync(f, 0o644);
  chmodSync(join(dir, 'httpd.conf'), 0o600);
  try {
    execFileSync('apache2', ['-t', '-f', join(dir, 'httpd.conf')], { stdio: 'pipe', timeout: 30_000 });
  } catch (err) {
    h.fail('apache2 -t refuses the mellon configuration', String(err.stderr ?? err.message));
  }
  // h.spawn: its own session and process group (setsid), stopped as a group when the journey ends.
  await h.spawn('apache-mellon', 'apache2', ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], { ready: `http://127.0.0.1:${port}/mellon/metadata` });
  S.mellon = { port, origin, dir, name: 'Legacy wiki (mod_auth_mellon)', clientId: registered.client_id, protected: `${origin}/protected/claims`, registered };
}

/** Collects the POSTs the page sends to `url` (read, never changed); `done()` stops and returns them. */
function recordPosts(page, url) {
  const posts = [];
  const record = (r) => { if (r.method() === 'POST' && r.url() === url) posts.push(r); };
  page.on('request', record);
  return { done: () => { page.off('request', record); return posts; } };
}

/** Checks that the last POST to an ACS crossed sites, as the browser sent it; returns its cookie names. */
async function crossSite(h, posts, what) {
  h.check(posts.length > 0, `${what}: the browser POSTed the Response to the ACS`);
  const sent = await posts.at(-1).allHeaders();
  h.checkEqual(sent['sec-fetch-site'], 'cross-site', `${what}: the ACS POST crosses sites (Sec-Fetch-Site the browser sent)`);
  return (sent.cookie ?? '').split(';').map((c) => c.trim().split('=')[0]).filter(Boolean);
}

/** The last lines of mellon's error log (why it refused a Response). */
function mellonLog(S) {
  try {
    return readFileSync(join(S.mellon.dir, 'error.log'), 'utf8').split('\n').filter((l) => /\[auth_mellon|lasso/i.test(l)).slice(-4).map((l) => l.replace(/^\[[^\]]*\] /, '').slice(0, 400));
  } catch {
    return [];
  }
}

/** The claims page of an SP after a sign-in: the page must say "Signed in". */
async function landedClaims(h, page, out, origin, what) {
  h.check(out.landed?.startsWith(origin) || page.url().startsWith(origin), `${what}: the browser ends at the app (${origin})`, { landed: out.landed, url: page.url(), step: out.facts?.step, h1: out.facts?.h1 });
  return h.rp.claims(page, what);
}

function checkPython3Saml(h, c, member, initiated, what) {
  h.ok(`${what}: python3-saml (strict, rejectDeprecatedAlgorithm) verified the Response`);
  h.checkEqual(c.initiated, initiated, `${what}: ${initiated === 'sp' ? 'SP-initiated (InResponseTo is the AuthnRequest python3-saml sent)' : 'IdP-initiated (unsolicited, no InResponseTo)'}`);
  if (initiated === 'sp') h.checkEqual(c.inResponseTo, c.requestId, `${what}: InResponseTo is python3-saml's AuthnRequest ID`);
  else h.checkEqual(c.inResponseTo, null, `${what}: no InResponseTo`);
  h.checkEqual(first(c.attributes, ATTR.email), member.email, `${what}: the emailaddress attribute`);
  h.checkEqual(first(c.attributes, ATTR.oid), member.id, `${what}: the objectidentifier attribute is the member`);
  h.checkEqual(first(c.attributes, ATTR.tid), h.cfg.tenant.id, `${what}: the tenantid attribute`);
  h.expect(c.nameIdFormat === NAMEID_EMAIL, `${what}: the NameID format is emailAddress, the one format python3-saml's metadata lists (got ${c.nameIdFormat})`);
  h.expect(c.nameId === member.email, `${what}: the e-mail NameID is the member's address (got ${c.nameId})`);
}

/**
 * mellon's page after a sign-in. `asked`: mellon sent the AuthnRequest (SP-initiated), whose
 * NameIDPolicy asks for transient (its metadata names no format), so the NameID must be transient;
 * an IdP-initiated Response answers no request, and any NameID format mellon accepts will do.
 */
function checkMellon(h, c, member, what, { asked = false } = {}) {
  h.ok(`${what}: mod_auth_mellon (Lasso) verified the Response and let the browser in`);
  h.check(typeof c.NAME_ID === 'string' && c.NAME_ID.length > 0, `${what}: MELLON_NAME_ID is set`, c);
  h.checkEqual(c.email, member.email, `${what}: MELLON_email (the emailaddress attribute)`);
  h.checkEqual(c.oid, member.id, `${what}: MELLON_oid (the objectidentifier attribute)`);
  h.checkEqual(c.tid, h.cfg.tenant.id, `${what}: MELLON_tid`);
  if (asked) {
    h.expect(c.nameIdFormat === NAMEID_TRANSIENT, `${what}: the NameID format is transient, as mellon asked (got ${c.nameIdFormat})`);
    h.expect(c.NAME_ID !== member.email && c.NAME_ID !== member.id, `${what}: the transient NameID is neither the address nor the object id (${c.NAME_ID})`);
  } else {
    h.note(`${what}: NameID format ${c.nameIdFormat} (IdP-initiated: no request asked for one)`);
  }
}

export async function run(h) {
  const S = {};

  await h.step('sps', 'python3-saml and Apache + mod_auth_mellon start on localhost and are registered from their own SP metadata', [], async () => {
    S.sara = h.member('sara', 'Sara Saml');
    S.max = h.member('mel', 'Mel Mellon');
    S.nora = h.member('nora', 'Nora Noscript');
    await startPython3Saml(h, S);
    await startMellon(h, S);
    // The running server sees apps made by the CLI at its next configuration poll (2 s).
    await h.sleep(2_500);
  });

  await h.step('p3-sp', 'python3-saml, SP-initiated: /login → Gatehouse sign-in → cross-site POST to its ACS → verified NameID and attributes', ['sps'], async () => {
    const { page } = await h.newContext();
    S.saraPage = page;
    const posts = recordPosts(page, S.p3.acs);
    const out = await h.signIn(page, S.p3.login, { email: S.sara.email, password: S.sara.password, label: 'python3-saml SP-initiated' });
    await crossSite(h, posts.done(), 'python3-saml, SP-initiated');
    const c = await landedClaims(h, page, out, S.p3.origin, 'python3-saml, SP-initiated');
    checkPython3Saml(h, c, S.sara, 'sp', 'python3-saml, SP-initiated');
  });

  await h.step('mellon-sp', 'mod_auth_mellon, SP-initiated: the protected page → Gatehouse sign-in → mellon signs in on the first try', ['sps'], async () => {
    const { page } = await h.newContext();
    S.maxPage = page;
    const posts = recordPosts(page, `${S.mellon.origin}/mellon/postResponse`);
    const out = await h.signIn(page, S.mellon.protected, { email: S.max.email, password: S.max.password, label: 'mellon SP-initiated' });
    const cookies = await crossSite(h, posts.done(), 'mellon, SP-initiated');
    h.note(`the cookies the browser sent with it: ${JSON.stringify(cookies)} (mellon's own, SameSite=None; Secure, is what lets mellon find its request)`);
    h.check(out.landed?.startsWith(S.mellon.protected) || page.url().startsWith(S.mellon.protected), 'mellon, SP-initiated: the first sign-in ends on the protected page (no second try)', { landed: out.landed, url: page.url(), text: out.facts?.text?.slice(0, 300), mellonLog: mellonLog(S) });
    const c = await h.apache.claims(page, 'mellon, SP-initiated');
    checkMellon(h, c, S.max, 'mellon, SP-initiated', { asked: true });
    S.maxAssertion = c.ASSERTION_ID;
  });

  await h.step('launch-mellon', 'IdP-initiated: {issuer}/saml/launch/{mellon} from a Gatehouse session (signed in at python3-saml or not)', ['sps'], async () => {
    let page = S.saraPage;
    if (!page) {
      ({ page } = await h.newContext());
      S.saraPage = page;
    }
    const launch = `${h.issuer}/saml/launch/${S.mellon.clientId}`;
    const out = await h.signIn(page, launch, { email: S.sara.email, password: S.sara.password, label: 'launch mellon' });
    h.check(page.url().startsWith(S.mellon.origin), 'the launch URL ends at mellon', { landed: out.landed, url: page.url(), h1: out.facts?.h1 });
    const c = await h.apache.claims(page, 'mellon, IdP-initiated');
    checkMellon(h, c, S.sara, 'mellon, IdP-initiated (launch URL)');
  });

  await h.step('launch-p3', 'IdP-initiated: {issuer}/saml/launch/{python3-saml} → an unsolicited Response python3-saml verifies', ['sps'], async () => {
    let page = S.maxPage;
    if (!page) {
      ({ page } = await h.newContext());
      S.maxPage = page;
    }
    const launch = `${h.issuer}/saml/launch/${S.p3.clientId}`;
    await h.signIn(page, launch, { email: S.max.email, password: S.max.password, label: 'launch python3-saml' });
    const c = await landedClaims(h, page, { landed: page.url() }, S.p3.origin, 'python3-saml, IdP-initiated');
    checkPython3Saml(h, c, S.max, 'idp', 'python3-saml, IdP-initiated (launch URL)');
  });

  await h.step('myapps', 'My Apps lists both SAML apps by their launch URL; opening each posts a fresh Response to it', ['launch-mellon', 'launch-p3'], async () => {
    for (const [who, page, target] of [[S.sara, S.saraPage, S.p3], [S.max, S.maxPage, S.mellon]]) {
      const facts = await h.visit(page, `${h.issuer}/myapps`, `My Apps (${who.name})`);
      h.expect(facts.text.includes(who.email), `My Apps shows ${who.email}`, facts.text);
      const links = await page.locator('main a').evaluateAll((as) => as.map((a) => ({ text: a.textContent.trim(), href: a.href })));
      for (const app of [S.p3, S.mellon]) {
        h.expect(links.some((l) => l.text === app.name && l.href === `${h.issuer}/saml/launch/${app.clientId}`), `My Apps links "${app.name}" to its launch URL`, links);
      }
      const navigation = page.waitForURL((u) => u.href.startsWith(target.origin), { timeout: 15_000, waitUntil: 'load' }).catch((err) => err);
      await page.locator('main a', { hasText: target.name }).first().click();
      const waited = await navigation;
      h.check(!(waited instanceof Error), `My Apps → ${target.name}: the browser reaches the app`, { url: page.url() });
      await h.checkPage(page, `${target.name} from My Apps`);
      const c = await h.rp.claims(page, `${target.name} from My Apps`);
      if (target === S.p3) {
        checkPython3Saml(h, c, who, 'idp', 'python3-saml from My Apps');
      } else {
        checkMellon(h, c, who, 'mellon from My Apps');
        if (S.maxAssertion) h.check(c.ASSERTION_ID !== S.maxAssertion, 'mellon from My Apps: a new assertion (MELLON_ASSERTION_ID differs from the SP-initiated one)', c.ASSERTION_ID);
      }
    }
  });

  await h.step('noscript', 'without scripts: the Response form stays on screen (checked like every page); its Continue button posts it to mellon', ['sps'], async () => {
    const { context, page } = await h.newContext();
    const launch = `${h.issuer}/saml/launch/${S.mellon.clientId}`;
    const out = await h.signIn(page, launch, { email: S.nora.email, stopAt: ['password'], label: 'launch mellon, no scripts' });
    h.checkEqual(out.facts?.step, 'password', 'the launch URL without a session asks for the password');
    // The page after the password is parsed as in a browser without scripts (the self-submitting
    // script does not run, <noscript> shows); scripts are back on once it has loaded, so that
    // the page checks (axe-core) can run on it.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
    await page.locator('form:has(input[name=step]) [name="password"]:visible').first().fill(S.nora.password);
    const navigation = page.waitForNavigation({ timeout: 15_000 }).catch((err) => err);
    await page.locator('form:has(input[name=step]) button[type=submit]').first().click();
    const response = await navigation;
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: false });
    h.check(!(response instanceof Error), 'the password is accepted and a page loads', String(response?.message ?? ''));
    await h.checkPage(page, 'the Response form, no scripts', { response });
    h.check(h.isGatehouse(page.url()) && (await page.locator('form#auto').count()) === 1, 'without scripts the browser stays on Gatehouse\'s Response form', { url: page.url() });
    const action = await page.locator('form#auto').getAttribute('action');
    h.checkEqual(action, `${S.mellon.origin}/mellon/postResponse`, 'the form posts to mellon\'s ACS (from its metadata)');
    const why = ((await page.locator('form#auto noscript').textContent().catch(() => '')) ?? '').trim();
    h.expect(why.length > 0, `the form carries a <noscript> note saying why it waits ("${why}")`);
    await h.submit(page, { button: 'form#auto button[type=submit]', label: 'mellon after Continue (no scripts)' });
    h.check(page.url().startsWith(S.mellon.origin), 'Continue posts the Response to mellon, which lets the browser in', page.url());
    const c = await h.apache.claims(page, 'mellon, no scripts');
    checkMellon(h, c, S.nora, 'mellon, no scripts');
  });
}
