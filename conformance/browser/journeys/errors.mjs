//! Journey "errors": every error page a person can reach, opened in Chromium and checked like
//! every other page (the page checks run on each; the status and the heading are checked here).
//!
//! - a bad invitation link (400); a revoked invitation's link (the same page); an invitation link
//!   used a second time after a real redemption leads back to the resources (B2B-REFERENCE.md B.2:
//!   the link "is reusable to return to resources"): My Apps in the guest's browser, the sign-in
//!   page in another one;
//! - an unknown organisation in the address (My Apps, authorize, redeem): 404;
//! - a sign-in page opened in a second browser (its step belongs to the first one), and a made-up
//!   sign-in address: 400, no form;
//! - an authorization request with an unknown client_id, or a redirect_uri the app never
//!   registered: an error page, never a redirect;
//! - a logout request naming a return address without an ID token hint: refused with a page; with
//!   a session and no hint at all, the confirmation page, then the signed-out page.

export const title = 'error pages: bad and used invitation links, unknown organisation, foreign sign-in step, bad authorize and logout requests';

export async function run(h) {
  const S = {};
  const unknown = `no-such-org-${h.slug}`;
  S.eve = h.member('eve', 'Eve Errors');

  await h.step('bad-link', 'a bad invitation link', [], async () => {
    const { page } = await h.newContext();
    const facts = await h.visit(page, `${h.issuer}/redeem?i=${'A'.repeat(43)}`, 'a bad invitation link', { status: 400 });
    h.check(facts.h1 && !facts.step, `a page that says so, with no form ("${facts.h1}")`, facts);
    S.badLink = facts;
  });

  await h.step('used-link', 'an invitation link used a second time leads back to the resources (B.2); a revoked one is refused', ['bad-link'], async () => {
    // B2B-REFERENCE.md B.2: the invitation link "is reusable to return to resources". After a
    // real redemption the link goes to inviteRedirectUrl (My Apps), which asks a browser without
    // a session to sign in; a revoked invitation's link gets the same page as a bad link.
    const email = `ursula@used-${h.slug}.example`;
    const res = await h.api('POST', '/invitations', { invitedUserEmailAddress: email, inviteRedirectUrl: `${h.issuer}/myapps` });
    h.checkEqual(res.status, 201, 'POST /invitations (no e-mail: the link comes from the API)');
    const { page } = await h.newContext();
    const out = await h.redeem(page, res.json.inviteRedeemUrl, { email, label: 'redeem once' });
    h.checkEqual(out.landed, `${h.issuer}/myapps`, 'the first use redeems the invitation');
    let facts = await h.visit(page, res.json.inviteRedeemUrl, 'the used link in the guest\'s browser');
    h.expect(page.url() === `${h.issuer}/myapps` && facts.status === 200, `the used link, in the guest's browser, leads to inviteRedirectUrl (My Apps; got ${facts.status} at ${page.url()})`);
    const other = await h.newContext();
    facts = await h.visit(other.page, res.json.inviteRedeemUrl, 'the used link in another browser');
    h.expect(facts.step === 'identify', `the used link, in another browser, leads to inviteRedirectUrl, which asks to sign in (got "${facts.h1}", step ${facts.step})`, { url: other.page.url() });
    const revokedEmail = `rita@revoked-${h.slug}.example`;
    const revoked = await h.api('POST', '/invitations', { invitedUserEmailAddress: revokedEmail, inviteRedirectUrl: `${h.issuer}/myapps` });
    h.checkEqual(revoked.status, 201, 'POST /invitations (another one)');
    const revoke = await h.api('POST', `/invitations/${revoked.json.id}/revoke`);
    h.check(revoke.status >= 200 && revoke.status < 300, `POST /invitations/{id}/revoke answers ${revoke.status}`, revoke.json ?? revoke.text);
    facts = await h.visit(other.page, revoked.json.inviteRedeemUrl, 'a revoked invitation\'s link', { status: 400 });
    h.expect(facts.h1 === S.badLink.h1 && facts.text === S.badLink.text, `a revoked invitation's link gets the same page as a bad link ("${facts.h1}"; it reveals nothing)`, { revoked: facts.text, bad: S.badLink.text });
  });

  await h.step('unknown-tenant', 'an unknown organisation in the address', [], async () => {
    const { page } = await h.newContext();
    const base = `${h.cfg.public_url}/${unknown}`;
    const authorize = `${base}/oauth2/authorize?${new URLSearchParams({ client_id: h.cfg.rp.client_id, response_type: 'code', redirect_uri: h.cfg.rp.redirect_uri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's' })}`;
    for (const [label, url] of [['My Apps', `${base}/myapps`], ['authorize', authorize], ['redeem', `${base}/redeem?i=${'A'.repeat(43)}`], ['security info', `${base}/security-info`]]) {
      const facts = await h.visit(page, url, `unknown organisation: ${label}`, { status: 404 });
      h.check(h.isGatehouse(page.url()) && facts.h1 && !facts.step, `${label} at an unknown organisation: a page, no redirect, no form ("${facts.h1}")`, { url: page.url(), h1: facts.h1 });
    }
  });

  await h.step('foreign-step', 'a sign-in page opened in a second browser, and a made-up sign-in address', [], async () => {
    const first = await h.newContext();
    let facts = await h.visit(first.page, h.rp.login(), 'sign-in in the first browser');
    h.checkEqual(facts.step, 'identify', 'the first browser gets the e-mail page');
    const loginUrl = first.page.url();
    const second = await h.newContext();
    facts = await h.visit(second.page, loginUrl, 'the same sign-in page in a second browser', { status: 400 });
    h.check(facts.h1 && !facts.step, `the second browser gets an expiry page without a form ("${facts.h1}")`, facts);
    const member = `${'nobody'}@${h.cfg.tenant.domain}`;
    facts = await h.submit(first.page, { fields: { email: member }, label: 'the first browser goes on', opts: { email: member } });
    h.checkEqual(facts.step, 'password', 'the first browser goes on to the password page');
    facts = await h.visit(second.page, first.page.url(), 'the password step in the second browser', { status: 400 });
    h.check(!facts.step, 'the second browser cannot take over the password step', facts.step);
    facts = await h.visit(second.page, `${h.issuer}/login?tx=made-up-${Date.now()}`, 'a made-up sign-in address', { status: 400 });
    h.check(facts.h1 && !facts.step, `a made-up transaction gets the expiry page ("${facts.h1}")`);
  });

  await h.step('bad-authorize', 'authorization requests an app cannot be sent back to: error pages', [], async () => {
    const { page } = await h.newContext();
    const params = (over) => new URLSearchParams({ client_id: h.cfg.rp.client_id, response_type: 'code', redirect_uri: h.cfg.rp.redirect_uri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's', ...over });
    for (const [label, over] of [['an unknown client_id', { client_id: 'no-such-client' }], ['an unregistered redirect_uri', { redirect_uri: 'https://evil.example/callback' }]]) {
      const facts = await h.visit(page, `${h.issuer}/oauth2/authorize?${params(over)}`, `authorize with ${label}`, { status: 400 });
      h.check(h.isGatehouse(page.url()) && facts.h1 && !facts.step, `${label}: an error page, no redirect ("${facts.h1}")`, { url: page.url(), h1: facts.h1 });
    }
  });

  await h.step('logout-pages', 'logout: a refused return address; without a hint, the confirmation page', [], async () => {
    const { page } = await h.newContext();
    let facts = await h.visit(page, `${h.issuer}/oauth2/logout?post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`, 'logout with a return address and no hint', { status: 400 });
    h.check(h.isGatehouse(page.url()) && facts.h1, `refused with a page, not a redirect ("${facts.h1}")`, page.url());
    // With a session, a logout request without an ID token hint asks the person first.
    const out = await h.signIn(page, h.rp.login(), { email: S.eve.email, password: S.eve.password, label: 'sign-in before logout' });
    h.check(out.landed && h.rp.isCallback(out.landed), 'signed in at the app', out);
    facts = await h.visit(page, `${h.issuer}/oauth2/logout`, 'logout without a hint: confirmation', { status: 200 });
    h.check((await page.locator('form[method=post] button').count()) >= 1, `the confirmation page asks with a button ("${facts.h1}")`, facts.text);
    facts = await h.submit(page, { label: 'after confirming sign-out' });
    h.check(h.isGatehouse(page.url()) && !facts.step && (await page.locator('form').count()) === 0, `then a signed-out page ("${facts.h1}")`, facts.text);
    facts = await h.visit(page, h.rp.login(), 'sign-in after the confirmed logout');
    h.checkEqual(facts.step, 'identify', 'the session is gone: signing in asks for the e-mail address');
  });
}
