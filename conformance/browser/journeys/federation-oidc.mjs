//! Journey "federation-oidc": guests of a partner organisation whose home IdP is a real OpenID
//! Provider, oidc-provider 9 (peers/oidc-partner.mjs), with its own sign-in and consent pages,
//! which the browser fills in and presses like a person.
//!
//! The partner runs at http://localhost:PORT, another site than Gatehouse (http://127.0.0.1:…),
//! and is registered with `gatehouse partner create … --issuer … --client-secret-stdin --domain …
//! --attest-domains` (Gatehouse's GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS=true lets it reach
//! a loopback partner).
//!
//! - Gwen (the partner asserts her address, email_verified true) is invited through the admin API;
//!   the browser opens the invitation e-mail's link: the landing page, Accept, the partner's
//!   sign-in page (e-mail and password typed), its consent page (Allow), Gatehouse's consent page,
//!   and the openid-client app (inviteRedirectUrl is its /login), whose verified ID token carries
//!   idp = the partner's issuer, amr ["fed"], acct 1 and the invited user's oid;
//! - later, Gwen signs in at the app in a fresh browser by home-realm discovery: she types her
//!   address on Gatehouse's sign-in page and is sent to the partner;
//! - Hal's partner account says email_verified false: with the tenant setting
//!   unverifiedAddressRedemption holdForApproval, his redemption ends on "Waiting for approval"
//!   (HTTP 202), which a reload shows again (Post/Redirect/Get); an administrator approves it
//!   through the admin API
//!   (POST …/heldRedemptions/{id}/approve, an app holding User.ReadWrite.All), and Hal then signs
//!   in at the app through his partner.

import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'guests of an OIDC partner (oidc-provider 9, its own sign-in and consent pages): redemption, home-realm discovery, held for approval';

const HERE = dirname(fileURLToPath(import.meta.url));
const PARTNER_NAME = 'Northwind Traders';

/** Invites `guest` through the admin API; returns the redeem link from the invitation e-mail. */
async function invite(h, guest, redirect) {
  const res = await h.api('POST', '/invitations', {
    invitedUserEmailAddress: guest.email,
    invitedUserDisplayName: guest.name,
    inviteRedirectUrl: redirect,
    sendInvitationMessage: true,
  });
  h.checkEqual(res.status, 201, `POST /invitations for ${guest.email} answers 201`);
  guest.invitation = res.json;
  guest.id = res.json.invitedUser?.id;
  const m = await h.mail.next(guest.email, `${guest.name}'s invitation e-mail`);
  const links = h.mail.links(m);
  h.check(links.includes(res.json.inviteRedeemUrl), `${guest.name}'s invitation e-mail carries inviteRedeemUrl`, links);
  return res.json.inviteRedeemUrl;
}

/**
 * At the partner's sign-in page: types the address and the password, signs in, presses Allow on
 * its consent page when it asks, and returns the facts of the page the browser then lands on
 * (Gatehouse's pages are checked, others screenshotted). `arrived`: the facts of the sign-in page
 * when the caller already took them (and its screenshot).
 */
async function atPartner(h, page, P, guest, label, arrived) {
  h.check(page.url().startsWith(`${P.issuer}/interaction/`), `${label}: the browser is at ${PARTNER_NAME}'s sign-in page`, page.url());
  let facts = arrived ?? (await h.checkPage(page, `${label}: ${PARTNER_NAME} sign-in page`));
  h.check(/Sign in to/.test(facts.h1 ?? ''), `${label}: ${PARTNER_NAME} shows its sign-in page`, facts.h1);
  facts = await h.submit(page, { fields: { email: guest.email, password: guest.password }, label: `${label}: after signing in at ${PARTNER_NAME}` });
  if (page.url().startsWith(`${P.issuer}/interaction/`) && (await page.locator('#allow').count()) === 1) {
    h.ok(`${label}: ${PARTNER_NAME} asks to allow Gatehouse (its consent page)`);
    facts = await h.submit(page, { button: '#allow', label: `${label}: after Allow at ${PARTNER_NAME}` });
  }
  h.check(!page.url().startsWith(P.issuer), `${label}: ${PARTNER_NAME} sends the browser back`, { url: page.url(), text: facts.text?.slice(0, 300) });
  return facts;
}

function checkClaims(h, c, P, guest, what) {
  h.ok(`${what}: openid-client verified the ID token (signature against the JWKS, iss, aud, nonce, PKCE)`);
  h.checkEqual(c.idp, P.issuer, `${what}: idp is ${PARTNER_NAME}'s issuer`);
  h.checkEqual(c.oid, guest.id, `${what}: oid is the invited guest`);
  h.checkEqual(c.email, guest.email, `${what}: email is the invited address`);
  h.checkEqual(c.acct, 1, `${what}: acct is 1 (guest)`);
  h.checkEqual(c.tid, h.cfg.tenant.id, `${what}: tid is the resource tenant`);
  h.check(Array.isArray(c.amr) && c.amr.includes('fed'), `${what}: amr includes fed (${JSON.stringify(c.amr)})`);
}

/** A later sign-in at the openid-client app: Gatehouse's e-mail page, the partner, the app. */
async function laterSignIn(h, P, guest, label) {
  const { page } = await h.newContext();
  const out = await h.signIn(page, h.rp.login(), { email: guest.email, label });
  h.check(out.landed?.startsWith(P.issuer), `${label}: after the address, Gatehouse sends the browser to ${PARTNER_NAME} (home-realm discovery)`, { landed: out.landed, step: out.facts?.step, h1: out.facts?.h1 });
  const facts = await atPartner(h, page, P, guest, label, out.facts);
  if (h.isGatehouse(page.url()) && facts.step === 'consent') await h.submit(page, { button: { name: 'decision', value: 'allow' }, label: `${label}: after consent` });
  h.check(h.rp.isCallback(page.url()), `${label}: back at the app`, { url: page.url(), step: facts.step, h1: facts.h1 });
  return h.rp.claims(page, `${label}: the app`);
}

export async function run(h) {
  const S = {};
  const domain = `northwind-${h.slug}.example`;
  const P = {};
  S.gwen = { email: `gwen@${domain}`, name: 'Gwen Northwind', password: `Gwen-${randomBytes(6).toString('hex')}`, emailVerified: true };
  S.hal = { email: `hal@${domain}`, name: 'Hal Unverified', password: `Hal-${randomBytes(6).toString('hex')}`, emailVerified: false };

  await h.step('partner', `${PARTNER_NAME}'s oidc-provider starts on localhost; partner create registers it (its discovery answers)`, [], async () => {
    const port = await h.freePort();
    Object.assign(P, {
      name: PARTNER_NAME,
      port,
      issuer: `http://localhost:${port}`,
      client_id: `gatehouse-${randomUUID()}`,
      client_secret: randomBytes(32).toString('base64url'),
      redirect_uri: `${h.issuer}/federation/oidc/callback`,
      accounts: [S.gwen, S.hal].map(({ email, name, password, emailVerified }) => ({ email, name, password, emailVerified })),
    });
    const dir = join(h.cfg.cli.cwd, 'oidc-partner');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(P, null, 2), { mode: 0o600 });
    await h.spawn('oidc-partner', process.execPath, [join(HERE, '..', 'peers', 'oidc-partner.mjs'), join(dir, 'config.json')], { ready: /"ready":true/ });
    const meta = await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json();
    h.checkEqual(meta.issuer, P.issuer, `${PARTNER_NAME}'s discovery names its issuer`);
    const partner = h.cli(['partner', 'create', '--tenant', h.slug, '--name', PARTNER_NAME, '--issuer', P.issuer, '--client-id', P.client_id,
      '--client-secret-stdin', '--domain', domain, '--attest-domains'], { input: `${P.client_secret}\n` });
    h.checkEqual(partner?.issuer, P.issuer, 'gatehouse partner create: the partner is registered with its issuer');
    const approver = h.cli(['app', 'create', '--tenant', h.slug, '--name', 'Guest approvals', '--grant', 'client_credentials', '--permission', 'User.ReadWrite.All']);
    S.approver = { client_id: approver.client_id, client_secret: approver.client_secret };
    // The running server sees partners and apps the CLI made at its next configuration poll (2 s).
    await h.sleep(2_500);
  });

  await h.step('redeem', 'Gwen redeems from the e-mail: landing, Accept, the partner\'s sign-in and consent pages, Gatehouse\'s consent, the app', ['partner'], async () => {
    const link = await invite(h, S.gwen, h.rp.login());
    const { page } = await h.newContext();
    let facts = await h.visit(page, link, 'Gwen: invitation landing page');
    h.checkEqual(facts.step, 'accept', 'the invitation link opens the landing page (step)');
    h.expect(facts.text.includes(h.cfg.tenant.name) && facts.text.includes(S.gwen.email), 'the landing page says which organisation invited which address', facts.text);
    facts = await h.submit(page, { label: 'Gwen: after Accept, the partner\'s sign-in page' });
    facts = await atPartner(h, page, P, S.gwen, 'Gwen redeems', facts);
    const seen = await (await fetch(`http://127.0.0.1:${P.port}/_test/requests`)).json();
    const request = seen.at(-1) ?? {};
    h.checkEqual(request.login_hint, S.gwen.email, `Gatehouse's authorization request at ${PARTNER_NAME}: login_hint is the invited address`);
    h.check(request.code_challenge_method === 'S256' && request.nonce && request.state, 'and it uses PKCE S256, a nonce and a state', request);
    h.checkEqual(facts.step, 'consent', 'back from the partner, Gatehouse asks for consent (step)');
    h.expect(facts.text.includes(S.gwen.email), 'the consent page names the address shared', facts.text);
    facts = await h.submit(page, { button: { name: 'decision', value: 'allow' }, label: 'Gwen: after consent' });
    h.check(h.rp.isCallback(page.url()), 'the guest lands on inviteRedirectUrl, the app, which signs her in', { url: page.url(), step: facts.step, h1: facts.h1 });
    checkClaims(h, await h.rp.claims(page, 'Gwen after redemption'), P, S.gwen, 'Gwen after redemption');
    const after = await h.api('GET', `/invitations/${S.gwen.invitation.id}`);
    h.checkEqual(after.json?.status, 'Completed', 'the invitation is now Completed');
  });

  await h.step('hrd', 'later, Gwen signs in at the app in a fresh browser: her address → the partner (home-realm discovery) → the app', ['redeem'], async () => {
    checkClaims(h, await laterSignIn(h, P, S.gwen, 'Gwen signs in later'), P, S.gwen, 'Gwen, home-realm discovery');
  });

  await h.step('held', 'Hal (email_verified false) with holdForApproval: "Waiting for approval" (202); approved through the admin API; then he signs in', ['partner'], async () => {
    const settings = h.cli(['tenant', 'settings', '--tenant', h.slug, '--unverified-address-redemption', 'holdForApproval']);
    h.checkEqual(settings?.unverifiedAddressRedemption, 'holdForApproval', 'gatehouse tenant settings sets unverifiedAddressRedemption holdForApproval');
    try {
      await h.sleep(2_500);
      const link = await invite(h, S.hal, h.rp.login());
      const { page } = await h.newContext();
      let facts = await h.visit(page, link, 'Hal: invitation landing page');
      h.checkEqual(facts.step, 'accept', 'the invitation link opens the landing page (step)');
      facts = await h.submit(page, { label: 'Hal: after Accept, the partner\'s sign-in page' });
      facts = await atPartner(h, page, P, S.hal, 'Hal redeems', facts);
      h.checkEqual(facts.step, 'consent', 'back from the partner, Gatehouse still shows its consent page (step)');
      facts = await h.submit(page, { button: { name: 'decision', value: 'allow' }, label: 'Hal: waiting for approval', opts: { status: 202 } });
      h.check(h.isGatehouse(page.url()), 'the browser stays at Gatehouse (no redirect to the app)', page.url());
      const reloaded = await page.reload({ timeout: 15_000 });
      const again = await h.checkPage(page, 'Hal: "Waiting for approval" reloaded', { response: reloaded });
      // Post/Redirect/Get, as on every sign-in form: the consent POST answers 303 and the page is a
      // GET, so a reload shows the same page instead of sending the used form again.
      h.expect(reloaded?.request().method() === 'GET' && /waiting for approval/i.test(`${again.h1}`), `reloading "Waiting for approval" sends a GET and shows the page again (Post/Redirect/Get: the consent POST answered ${facts.post?.status}; the reload sent ${reloaded?.request().method()} and got ${reloaded?.status()} "${again.h1}")`, again.text);
      h.check(/waiting for approval/i.test(`${facts.h1} ${facts.text}`), `the page says "Waiting for approval" (h1 "${facts.h1}")`, facts.text);
      const pending = await h.api('GET', `/invitations/${S.hal.invitation.id}`);
      h.checkEqual(pending.json?.status, 'PendingAcceptance', 'Hal\'s invitation is still PendingAcceptance');

      const list = await h.api('GET', `/heldRedemptions?$filter=${encodeURIComponent("status eq 'pending'")}`);
      h.checkEqual(list.status, 200, 'GET heldRedemptions (User.Read.All): 200');
      const held = (list.json?.value ?? []).filter((r) => r.invitationId === S.hal.invitation.id);
      h.checkEqual(held.length, 1, 'one pending request for Hal\'s invitation');
      h.checkEqual(held[0].issuer, P.issuer, `the request names ${PARTNER_NAME}'s issuer`);
      h.checkEqual(held[0].assertedEmailVerified, false, 'and says the partner did not verify the address');
      const basic = Buffer.from(`${encodeURIComponent(S.approver.client_id)}:${encodeURIComponent(S.approver.client_secret)}`).toString('base64');
      const token = await (await fetch(`${h.issuer}/oauth2/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'User.ReadWrite.All' }),
      })).json();
      h.check(token.access_token, 'the approvals app gets a User.ReadWrite.All token', token);
      const approved = await fetch(`${h.issuer}/v1.0/heldRedemptions/${held[0].id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${token.access_token}`, accept: 'application/json' } });
      const body = await approved.json().catch(() => null);
      h.checkEqual(approved.status, 200, 'POST …/heldRedemptions/{id}/approve: 200');
      h.checkEqual(body?.status, 'approved', 'the request is approved');
      const after = await h.api('GET', `/invitations/${S.hal.invitation.id}`);
      h.checkEqual(after.json?.status, 'Completed', 'Hal\'s invitation is now Completed');

      checkClaims(h, await laterSignIn(h, P, S.hal, 'Hal signs in after approval'), P, S.hal, 'Hal, approved');
    } finally {
      h.cli(['tenant', 'settings', '--tenant', h.slug, '--unverified-address-redemption', 'refuse']);
    }
  });
}
