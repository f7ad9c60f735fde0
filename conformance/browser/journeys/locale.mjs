//! Journey "locale": the pages speak the person's language, in Chromium.
//!
//! - discovery lists ui_locales_supported [en, fr, de];
//! - English first (an en-US browser, no ui_locales): the e-mail and password pages, and a whole
//!   English redemption, as the reference texts;
//! - ui_locales=fr on the authorization request: the sign-in pages are French (<html lang="fr">,
//!   and the visible text differs from the English page of the same step);
//! - a browser whose locale is de-DE (its Accept-Language): the sign-in pages are German;
//! - an invitation with invitedUserMessageInfo.messageLanguage = fr: the invitation e-mail and the
//!   passcode e-mail are French (<html lang="fr"> in their HTML part), the redemption pages are
//!   French in an en-US browser, and the guest's later sign-in (en-US browser, no ui_locales) is
//!   French after the e-mail address, with a French code e-mail.
//! Texts are compared with the addresses and names of the people in them left out.

export const title = 'localisation: ui_locales=fr, Accept-Language de-DE, an invitation in French remembered for later sign-ins';

export async function run(h) {
  const S = {};
  S.member = h.member('lou', 'Lou Locale');
  const domain = `lang-${h.slug}.example`;
  S.en = { email: `emma@${domain}`, name: 'Emma English' };
  S.fr = { email: `francois@${domain}`, name: 'François Français' };
  const people = [S.member.email, S.en.email, S.fr.email, S.member.name, S.en.name, S.fr.name];
  const neutral = (text) => people.reduce((t, p) => t.split(p).join('<person>'), text ?? '');
  const mailLang = (m) => (m.html ?? '').match(/<html[^>]*\blang="([^"]+)"/i)?.[1] ?? null;

  /** The e-mail and password pages of a sign-in at the openid-client app. */
  async function signInPages(page, params, label) {
    const identify = await h.visit(page, h.rp.login(params), `${label}: e-mail page`);
    h.checkEqual(identify.step, 'identify', `${label}: the e-mail page`);
    const password = await h.submit(page, { fields: { email: S.member.email }, label: `${label}: password page`, opts: { email: S.member.email } });
    h.checkEqual(password.step, 'password', `${label}: the password page`);
    return { identify, password };
  }

  function checkLanguage(facts, lang, english, what) {
    h.expect(facts.lang === lang, `${what}: <html lang="${lang}"> (has "${facts.lang}")`);
    h.expect(neutral(facts.text) !== neutral(english.text), `${what}: the visible text is not the English page's`, { text: facts.text.slice(0, 300) });
  }

  await h.step('discovery', 'discovery lists ui_locales_supported [en, fr, de]', [], async () => {
    const meta = await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json();
    const got = [...(meta.ui_locales_supported ?? [])].sort();
    h.expect(JSON.stringify(got) === JSON.stringify(['de', 'en', 'fr']), `ui_locales_supported is [en, fr, de] (has ${JSON.stringify(meta.ui_locales_supported)})`);
  });

  await h.step('english', 'English reference: an en-US browser without ui_locales', [], async () => {
    const { page } = await h.newContext({ locale: 'en-US' });
    S.english = await signInPages(page, {}, 'English');
    h.expect(S.english.identify.lang === 'en', `English: <html lang="en"> (has "${S.english.identify.lang}")`);
  });

  await h.step('french-ui-locales', 'ui_locales=fr: the sign-in pages are French', ['english'], async () => {
    const { page } = await h.newContext({ locale: 'en-US' });
    const fr = await signInPages(page, { ui_locales: 'fr' }, 'ui_locales=fr');
    checkLanguage(fr.identify, 'fr', S.english.identify, 'ui_locales=fr, the e-mail page');
    checkLanguage(fr.password, 'fr', S.english.password, 'ui_locales=fr, the password page');
  });

  await h.step('german-accept-language', 'a de-DE browser (Accept-Language): the sign-in pages are German', ['english'], async () => {
    const { page } = await h.newContext({ locale: 'de-DE' });
    const de = await signInPages(page, {}, 'de-DE browser');
    checkLanguage(de.identify, 'de', S.english.identify, 'de-DE browser, the e-mail page');
    checkLanguage(de.password, 'de', S.english.password, 'de-DE browser, the password page');
  });

  /** Invites, reads the invitation e-mail, redeems in an en-US browser; returns the pages and mails. */
  async function invitedAndRedeemed(person, messageLanguage, label) {
    const res = await h.api('POST', '/invitations', {
      invitedUserEmailAddress: person.email,
      invitedUserDisplayName: person.name,
      inviteRedirectUrl: `${h.issuer}/myapps`,
      sendInvitationMessage: true,
      invitedUserMessageInfo: { messageLanguage },
    });
    h.checkEqual(res.status, 201, `${label}: POST /invitations (messageLanguage ${messageLanguage})`);
    const invitation = await h.mail.next(person.email, `${label}: the invitation e-mail`);
    const { page } = await h.newContext({ locale: 'en-US' });
    const out = await h.redeem(page, res.json.inviteRedeemUrl, { email: person.email, label });
    h.checkEqual(out.landed, `${h.issuer}/myapps`, `${label}: redeemed, on My Apps`);
    return { invitation, ...out.pages };
  }

  await h.step('english-invitation', 'English reference: an invitation in English, redeemed', [], async () => {
    S.enRedeem = await invitedAndRedeemed(S.en, 'en-US', 'English invitation');
  });

  await h.step('french-invitation', 'an invitation in French: French e-mails, French redemption pages', ['english-invitation'], async () => {
    const fr = await invitedAndRedeemed(S.fr, 'fr', 'French invitation');
    const en = S.enRedeem;
    h.expect(mailLang(fr.invitation) === 'fr', `the invitation e-mail is French (<html lang="fr">, has ${JSON.stringify(mailLang(fr.invitation))})`);
    h.expect(neutral(fr.invitation.subject) !== neutral(en.invitation.subject), `the invitation e-mail's subject is not the English one ("${fr.invitation.subject}")`);
    h.expect(mailLang(fr.codeMail) === 'fr', `the passcode e-mail of the redemption is French (<html lang="fr">, has ${JSON.stringify(mailLang(fr.codeMail))}; subject "${fr.codeMail.subject}")`);
    for (const stepName of ['accept', 'code', 'password', 'consent']) {
      checkLanguage(fr[stepName], 'fr', en[stepName], `French invitation, redemption page "${stepName}"`);
    }
  });

  await h.step('french-later', 'the French guest\'s later sign-in (en-US browser, no ui_locales) is French', ['french-invitation'], async () => {
    const { page } = await h.newContext({ locale: 'en-US' });
    const identify = await h.visit(page, h.rp.login(), 'French guest later: e-mail page');
    h.checkEqual(identify.step, 'identify', 'the e-mail page');
    const next = await h.submit(page, { fields: { email: S.fr.email }, label: 'French guest later: after the e-mail', opts: { email: S.fr.email } });
    if (next.step !== 'code') h.note(`after the e-mail the passcode-only guest got the "${next.step}" page (journey guest checks the code-first rule)`);
    const english = next.step === 'password' ? S.english.password : S.enRedeem.code;
    checkLanguage(next, 'fr', english, `French guest later, the "${next.step}" page`);
    let codePage = next;
    if (next.step === 'password') codePage = await h.submit(page, { button: { name: 'action', value: 'send_code' }, label: 'French guest later: after "Email me a code"', opts: { email: S.fr.email } });
    h.checkEqual(codePage.step, 'code', 'the code page');
    const m = await h.mail.next(S.fr.email, 'the sign-in code e-mail');
    h.expect(mailLang(m) === 'fr', `the sign-in code e-mail is French (<html lang="fr">, has ${JSON.stringify(mailLang(m))}; subject "${m.subject}")`);
    await h.submit(page, { fields: { code: h.mail.passcode(m) }, label: 'French guest later: after the code' });
    h.check(h.rp.isCallback(page.url()), 'back at the app', page.url());
    const c = await h.rp.claims(page, 'openid-client app');
    h.checkEqual(c.email, S.fr.email, 'the French guest is signed in');
  });
}
