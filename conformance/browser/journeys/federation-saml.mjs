//! Journey "federation-saml": guests of a partner organisation whose home IdP is a SAML 2.0 IdP,
//! pysaml2 (peers/saml_home_idp.py, adapted from conformance/federation/saml/home_idp.py) with a
//! sign-in page the browser fills in.
//!
//! The IdP runs at http://localhost:PORT, another site than Gatehouse (http://127.0.0.1:…): its
//! self-submitting Response form makes a real cross-site POST to Gatehouse's ACS, which carries no
//! SameSite=Lax cookie, so Gatehouse must send the browser on to its federation/saml/continue
//! step to find the sign-in again. pysaml2 verifies Gatehouse's signed AuthnRequests against
//! Gatehouse's SP metadata ({issuer}/federation/saml/metadata). The partner is registered with
//! `gatehouse partner create … --saml-metadata-url … --domain … --attest-domains`.
//!
//! - Tess is invited through the admin API; the browser opens the invitation e-mail's link: the
//!   landing page, Accept, the IdP's sign-in page (a wrong password first, then the right one),
//!   the cross-site POST to the ACS, Gatehouse's consent page, and the openid-client app, whose
//!   verified ID token carries idp = the IdP's entityID;
//! - later, Tess signs in at the app in a fresh browser by home-realm discovery: her address on
//!   Gatehouse's sign-in page, the IdP's sign-in page, the POST back, the app.

import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'guests of a SAML partner (pysaml2 with its own sign-in page): redemption and home-realm discovery, the IdP\'s cross-site POST to Gatehouse\'s ACS';

const HERE = dirname(fileURLToPath(import.meta.url));
const PARTNER_NAME = 'Fabrikam Research';

/**
 * At the IdP's sign-in page (`arrived`: its facts, screenshotted): a wrong password first when
 * asked, then the right one; the IdP answers with its self-submitting form, which the browser
 * posts to Gatehouse's ACS (cross-site). Returns the facts of the page the browser lands on after
 * leaving the IdP (Gatehouse's pages are checked).
 */
async function atIdp(h, page, I, guest, label, arrived, { wrongFirst = false } = {}) {
  h.check(page.url().startsWith(`${I.origin}/sso/redirect`), `${label}: the browser is at ${PARTNER_NAME}'s sign-in page (its SSO endpoint, HTTP-Redirect binding)`, page.url());
  h.check(/Sign in to/.test(arrived?.h1 ?? ''), `${label}: ${PARTNER_NAME} shows its sign-in page (pysaml2 accepted the signed AuthnRequest)`, { h1: arrived?.h1, text: arrived?.text?.slice(0, 400) });
  if (wrongFirst) {
    const facts = await h.submit(page, { fields: { username: guest.username, password: `${guest.password}-wrong` }, label: `${label}: a wrong password at ${PARTNER_NAME}` });
    h.check(page.url().startsWith(I.origin) && /wrong/i.test(facts.alerts.join(' ')), `${label}: ${PARTNER_NAME} refuses a wrong password on its own page`, { url: page.url(), alerts: facts.alerts });
  }
  await page.locator('[name="username"]:visible').fill(guest.username);
  await page.locator('[name="password"]:visible').fill(guest.password);
  // The IdP's answer is a page that posts itself on to Gatehouse's ACS (onload): wait until the
  // browser has left the IdP and a page has loaded.
  const acs = `${h.issuer}/federation/saml/acs`;
  const posts = [];
  const record = (r) => { if (r.method() === 'POST' && r.url() === acs) posts.push(r); };
  page.on('request', record);
  const left = page.waitForURL((u) => u.origin !== I.origin, { timeout: 15_000, waitUntil: 'load' }).catch((err) => err);
  await page.locator('form button[type=submit]').first().click();
  const waited = await left;
  page.off('request', record);
  h.check(!(waited instanceof Error), `${label}: ${PARTNER_NAME}'s Response form posts the browser on to Gatehouse`, { url: page.url(), error: waited?.message?.split('\n')[0] });
  h.checkEqual(posts.length, 1, `${label}: the browser POSTed the Response to Gatehouse's ACS once`);
  // What the browser sent, read, not set: a cross-site POST, without Gatehouse's SameSite=Lax
  // (or Strict) cookies.
  const sent = await posts[0].allHeaders();
  h.checkEqual(sent['sec-fetch-site'], 'cross-site', `${label}: the ACS POST crosses sites (Sec-Fetch-Site the browser sent)`);
  const lax = (await page.context().cookies(h.issuer)).filter((c) => c.sameSite !== 'None').map((c) => c.name);
  const carried = (sent.cookie ?? '').split(';').map((c) => c.trim().split('=')[0]).filter(Boolean);
  h.check(!carried.some((n) => lax.includes(n)), `${label}: the ACS POST carries none of Gatehouse's SameSite=Lax cookies (sent: ${JSON.stringify(carried)})`, { lax, carried });
  return h.checkPage(page, `${label}: back from ${PARTNER_NAME}`, { email: guest.email });
}

function checkClaims(h, c, I, guest, what) {
  h.ok(`${what}: openid-client verified the ID token (signature against the JWKS, iss, aud, nonce, PKCE)`);
  h.checkEqual(c.idp, I.entityId, `${what}: idp is ${PARTNER_NAME}'s entityID`);
  h.checkEqual(c.oid, guest.id, `${what}: oid is the invited guest`);
  h.checkEqual(c.email, guest.email, `${what}: email is the invited address`);
  h.checkEqual(c.acct, 1, `${what}: acct is 1 (guest)`);
  h.check(Array.isArray(c.amr) && c.amr.includes('fed'), `${what}: amr includes fed (${JSON.stringify(c.amr)})`);
}

/** What the IdP received last: the AuthnRequest as pysaml2 parsed it. */
async function lastRequest(I) {
  const { requests } = await (await fetch(`http://127.0.0.1:${I.port}/_test/requests`)).json();
  return requests.at(-1) ?? {};
}

export async function run(h) {
  const S = {};
  const I = {};
  const domain = `fabrikam-${h.slug}.example`;
  S.tess = { username: 'tess', email: `tess@${domain}`, name: 'Tess Fabrikam', password: `Tess-${randomBytes(6).toString('hex')}` };

  await h.step('partner', `${PARTNER_NAME}'s pysaml2 IdP starts on localhost with Gatehouse's SP metadata; partner create registers it from its metadata URL`, [], async () => {
    const port = await h.freePort();
    Object.assign(I, { port, origin: `http://localhost:${port}`, entityId: `http://localhost:${port}/metadata` });
    const dir = join(h.cfg.cli.cwd, 'saml-partner');
    mkdirSync(dir, { recursive: true });
    const res = await fetch(`${h.issuer}/federation/saml/metadata`);
    h.checkEqual(res.status, 200, 'Gatehouse\'s SP metadata answers at {issuer}/federation/saml/metadata');
    writeFileSync(join(dir, 'gatehouse-sp-metadata.xml'), await res.text());
    const config = {
      name: PARTNER_NAME,
      port,
      origin: I.origin,
      work: dir,
      sp_metadata_file: join(dir, 'gatehouse-sp-metadata.xml'),
      users: { [S.tess.username]: { password: S.tess.password, mail: S.tess.email, name: S.tess.name, given: 'Tess', surname: 'Fabrikam' } },
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2), { mode: 0o600 });
    await h.spawn('saml-partner', h.cfg.python, ['-W', 'ignore', join(HERE, '..', 'peers', 'saml_home_idp.py'), join(dir, 'config.json')], { ready: /"ready": true/, timeoutMs: 30_000 });
    const partner = h.cli(['partner', 'create', '--tenant', h.slug, '--name', PARTNER_NAME, '--saml-metadata-url', `${I.origin}/metadata`, '--domain', domain, '--attest-domains']);
    h.check(JSON.stringify(partner ?? {}).includes(I.entityId), 'gatehouse partner create: the partner is registered with the entityID of its metadata', partner);
    // The running server sees partners the CLI made at its next configuration poll (2 s).
    await h.sleep(2_500);
  });

  await h.step('redeem', 'Tess redeems from the e-mail: landing, Accept, the IdP\'s sign-in page, the cross-site POST to the ACS, consent, the app', ['partner'], async () => {
    const res = await h.api('POST', '/invitations', {
      invitedUserEmailAddress: S.tess.email,
      invitedUserDisplayName: S.tess.name,
      inviteRedirectUrl: h.rp.login(),
      sendInvitationMessage: true,
    });
    h.checkEqual(res.status, 201, 'POST /invitations answers 201');
    S.tess.invitation = res.json;
    S.tess.id = res.json.invitedUser?.id;
    const m = await h.mail.next(S.tess.email, 'Tess\'s invitation e-mail');
    h.check(h.mail.links(m).includes(res.json.inviteRedeemUrl), 'the invitation e-mail carries inviteRedeemUrl', h.mail.links(m));
    const { page } = await h.newContext();
    let facts = await h.visit(page, res.json.inviteRedeemUrl, 'Tess: invitation landing page');
    h.checkEqual(facts.step, 'accept', 'the invitation link opens the landing page (step)');
    h.expect(facts.text.includes(h.cfg.tenant.name) && facts.text.includes(S.tess.email), 'the landing page says which organisation invited which address', facts.text);
    facts = await h.submit(page, { label: 'Tess: after Accept, the IdP\'s sign-in page' });
    const request = await lastRequest(I);
    h.check(!request.error && request.signed_query, `${PARTNER_NAME} (pysaml2) received a signed AuthnRequest and verified it against Gatehouse's SP metadata`, request);
    h.check(/rsa-sha256/.test(request.sig_alg ?? ''), `the AuthnRequest is signed with RSA-SHA256 (${request.sig_alg})`);
    facts = await atIdp(h, page, I, S.tess, 'Tess redeems', facts, { wrongFirst: true });
    h.checkEqual(facts.step, 'consent', 'after the cross-site POST to the ACS, Gatehouse finds the redemption again and asks for consent (step)');
    h.expect(facts.text.includes(S.tess.email), 'the consent page names the address shared', facts.text);
    facts = await h.submit(page, { button: { name: 'decision', value: 'allow' }, label: 'Tess: after consent' });
    h.check(h.rp.isCallback(page.url()), 'the guest lands on inviteRedirectUrl, the app, which signs her in', { url: page.url(), step: facts.step, h1: facts.h1 });
    checkClaims(h, await h.rp.claims(page, 'Tess after redemption'), I, S.tess, 'Tess after redemption');
    const after = await h.api('GET', `/invitations/${S.tess.invitation.id}`);
    h.checkEqual(after.json?.status, 'Completed', 'the invitation is now Completed');
  });

  await h.step('hrd', 'later, Tess signs in at the app in a fresh browser: her address → the IdP (home-realm discovery) → POST back → the app', ['redeem'], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.tess.email, label: 'Tess signs in later' });
    h.check(out.landed?.startsWith(`${I.origin}/sso/redirect`), `after the address, Gatehouse sends the browser to ${PARTNER_NAME} (home-realm discovery)`, { landed: out.landed, step: out.facts?.step, h1: out.facts?.h1 });
    let facts = await atIdp(h, page, I, S.tess, 'Tess signs in later', out.facts);
    if (h.isGatehouse(page.url()) && facts.step === 'consent') facts = await h.submit(page, { button: { name: 'decision', value: 'allow' }, label: 'Tess signs in later: after consent' });
    h.check(h.rp.isCallback(page.url()), 'back at the app', { url: page.url(), step: facts.step, h1: facts.h1 });
    checkClaims(h, await h.rp.claims(page, 'Tess signs in later'), I, S.tess, 'Tess, home-realm discovery');
  });
}
