//! Journey "guest": invited guests redeem from the real e-mail and later sign in, in Chromium.
//!
//! - Gail is invited through the admin API (Graph's POST /invitations, inviteRedirectUrl = My
//!   Apps); the invitation e-mail arrives at the SMTP server; the browser opens its link: the
//!   landing page (the organisation and the address; an app invited, so no person's name),
//!   Accept, a wrong code refused, the code from the second e-mail, Skip (no password), consent,
//!   and My Apps;
//! - the "Block future invitations" link of the same e-mail opens its confirmation page;
//! - Pete is invited with the CLI (`gatehouse invite --jsonl`, inviteRedirectUrl = the
//!   openid-client app) and sets a password during redemption, landing on the app;
//! - later, Gail (passcode only) signs in at the openid-client app by a mailed code: after her
//!   e-mail address the code page must come first, never a password page; her ID token says
//!   idp "mail", acct 1;
//! - later, Pete signs in with his password at Apache + mod_auth_openidc.

export const title = 'guest redemption from the e-mail (API and CLI invitations), later sign-in by passcode and password';

export async function run(h) {
  const S = {};
  const domain = `partner-${h.slug}.example`;
  S.gail = { email: `gail@${domain}`, name: 'Gail Guest' };
  S.pete = { email: `pete@${domain}`, name: 'Pete Password', password: `Pete-${Math.random().toString(36).slice(2, 10)}-pw!` };

  await h.step('invite-api', 'Gail is invited through the admin API; the invitation e-mail arrives', [], async () => {
    const res = await h.api('POST', '/invitations', {
      invitedUserEmailAddress: S.gail.email,
      invitedUserDisplayName: S.gail.name,
      inviteRedirectUrl: `${h.issuer}/myapps`,
      sendInvitationMessage: true,
      invitedUserMessageInfo: { customizedMessageBody: 'Welcome to the supplier portal.' },
    });
    h.checkEqual(res.status, 201, 'POST /invitations answers 201');
    S.gail.invitation = res.json;
    S.gail.id = res.json.invitedUser?.id;
    const m = await h.mail.next(S.gail.email, 'the invitation e-mail');
    h.check(/invited you/i.test(m.subject ?? ''), `the invitation e-mail arrived: "${m.subject}"`);
    const links = h.mail.links(m);
    h.check(links.includes(res.json.inviteRedeemUrl), 'the e-mail\'s accept link is inviteRedeemUrl', links);
    S.gail.link = res.json.inviteRedeemUrl;
    S.gail.block = links.find((l) => l.includes('/invitations/block?'));
    h.check(S.gail.block, 'the e-mail has a "Block future invitations" link', links);
  });

  await h.step('redeem-skip', 'Gail opens the link: landing, Accept, a wrong code, the code, Skip, consent, My Apps', ['invite-api'], async () => {
    const { page } = await h.newContext();
    S.gail.page = page;
    const out = await h.redeem(page, S.gail.link, { email: S.gail.email, wrongCodeFirst: true, label: 'Gail redeems' });
    const landing = out.pages.accept;
    // An app invited Gail (the admin API with an app token): the page names the organisation,
    // and the inviter only when a person invited.
    h.expect(landing.text.includes(h.cfg.tenant.name) && landing.text.includes(S.gail.email), 'the landing page says which organisation invited which address', landing.text);
    h.expect(out.pages.consent.text.includes(S.gail.email), 'the consent page names the address shared', out.pages.consent.text);
    h.checkEqual(out.landed, `${h.issuer}/myapps`, 'the guest lands on inviteRedirectUrl (My Apps)');
    const myApps = out.pages.landing;
    h.expect(myApps.text.includes(S.gail.email) && myApps.text.includes(h.cfg.rp.name), 'My Apps shows the guest and the apps', myApps.text);
  });

  await h.step('block-page', 'the e-mail\'s "Block future invitations" link opens a confirmation page', ['invite-api'], async () => {
    const { page } = await h.newContext();
    const facts = await h.visit(page, S.gail.block, 'block invitations: confirmation', { status: 200 });
    h.expect(facts.text.includes(S.gail.email), 'the block page names the address', facts.text);
    h.check((await page.locator('form[method=post] button[type=submit]').count()) === 1, 'it asks to confirm with a button (a POST)');
  });

  await h.step('invite-cli', 'Pete is invited with the CLI (gatehouse invite --jsonl); the e-mail arrives', [], async () => {
    const { writeFileSync } = await import('node:fs');
    const file = `${h.cfg.cli.cwd}/pete.jsonl`;
    writeFileSync(file, `${JSON.stringify({ invitedUserEmailAddress: S.pete.email, invitedUserDisplayName: S.pete.name, inviteRedirectUrl: `${h.cfg.rp.origin}/`, sendInvitationMessage: true })}\n`);
    const rows = [h.cli(['invite', '--tenant', h.slug, '--jsonl', file, '--json'])].flat();
    h.checkEqual(rows[0]?.status, 'Invited', 'gatehouse invite: the row is Invited');
    S.pete.id = rows[0].userId;
    const m = await h.mail.next(S.pete.email, 'Pete\'s invitation e-mail');
    S.pete.link = h.mail.links(m).find((l) => l.includes('/redeem?'));
    h.check(S.pete.link, 'the e-mail has the accept link', h.mail.links(m));
  });

  await h.step('redeem-password', 'Pete redeems and sets a password; he lands on the openid-client app', ['invite-cli'], async () => {
    const { page } = await h.newContext();
    const out = await h.redeem(page, S.pete.link, { email: S.pete.email, password: S.pete.password, label: 'Pete redeems' });
    h.checkEqual(out.landed, `${h.cfg.rp.origin}/`, 'the guest lands on inviteRedirectUrl (the app)');
  });

  await h.step('gail-later', 'later, Gail signs in at the openid-client app with a mailed code (code page first)', ['redeem-skip'], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.gail.email, method: 'code', label: 'Gail signs in' });
    h.check(out.landed && h.rp.isCallback(out.landed), 'back at the app', out);
    const c = await h.rp.claims(page, 'openid-client app');
    h.checkEqual(c.email, S.gail.email, 'email');
    h.checkEqual(c.oid, S.gail.id, 'oid is the invited user');
    h.checkEqual(c.idp, 'mail', 'idp is "mail"');
    h.checkEqual(c.acct, 1, 'acct is 1 (guest)');
    h.check(Array.isArray(c.amr) && c.amr.includes('email') && !c.amr.includes('pwd'), `amr says a mailed code (${JSON.stringify(c.amr)})`);
  });

  await h.step('pete-later', 'later, Pete signs in with his password at Apache + mod_auth_openidc', ['redeem-password'], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.apache.protected, { email: S.pete.email, password: S.pete.password, label: 'Pete signs in' });
    h.check(out.landed?.startsWith(h.apache.protected), 'the browser ends on the protected page', out);
    const c = await h.apache.claims(page, 'mod_auth_openidc app');
    h.checkEqual(c.email, S.pete.email, 'OIDC_CLAIM_email');
    h.checkEqual(c.acct, '1', 'OIDC_CLAIM_acct is 1 (guest)');
    h.check((c.amr ?? '').split(',').includes('pwd'), `OIDC_CLAIM_amr includes pwd (${c.amr})`);
  });
}
