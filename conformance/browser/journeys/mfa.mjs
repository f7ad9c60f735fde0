//! Journey "mfa": a conditional-access policy requires MFA (`gatehouse policy create … --grant
//! mfa`, for one member); the member enrols and signs in with TOTP, as a person does in Chromium.
//!
//! - enrolment at the openid-client app: the QR code on the page is decoded from the page's
//!   screenshot with zbarimg to its otpauth:// URI; the key shown for typing is the same secret;
//!   a wrong code is refused; a code computed by `otpauth` from the URI turns it on; ten recovery
//!   codes are shown, once (the page does not show them again); the ID token has amr otp + mfa
//!   and acr REFEDS MFA;
//! - a later sign-in in a fresh browser: the challenge refuses a wrong code, accepts the next one;
//! - another fresh browser signs in with a recovery code (amr pwd + mfa, no otp).

import { Codes, decodeQr, fromUri } from '../harness/totp.mjs';

export const title = 'conditional access requires MFA: enrolment from the QR code, TOTP challenge, recovery code';

const ACR_MFA = 'https://refeds.org/profile/mfa';

export async function run(h) {
  const S = {};
  S.max = h.member('max', 'Max Multifactor');

  await h.step('policy', 'a policy requires MFA for the member (gatehouse policy create … --grant mfa)', [], async () => {
    const policy = h.cli(['policy', 'create', '--tenant', h.slug, '--name', 'MFA for Max', '--user', S.max.email, '--grant', 'mfa']);
    h.check(typeof policy?.id === 'string', 'gatehouse policy create prints the policy', policy);
    h.checkEqual(policy.state, 'enabled', 'the policy is enabled');
    // The server reads configuration changes made by another process at its next poll (2 s).
    await h.sleep(2_500);
  });

  await h.step('enrol', 'enrolment: the QR code from the screenshot, the typed key, a wrong code, recovery codes shown once', ['policy'], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.max.email, password: S.max.password, label: 'MFA enrolment', stopAt: ['enroll'] });
    h.check(!out.landed, 'after the password the browser does not go back to the app without a second factor', out.landed);
    let facts = out.facts;
    h.checkEqual(facts.step, 'enroll', 'after the password, the enrolment page');
    const found = decodeQr(facts.screenshots.light);
    h.checkEqual(found.length, 1, `zbarimg finds one QR code in the page's screenshot (${facts.screenshots.light})`);
    const uri = found[0];
    h.check(uri.startsWith('otpauth://totp/'), `the QR code is an otpauth://totp/ URI (${uri.replace(/secret=[^&]*/, 'secret=…')})`);
    const totp = fromUri(uri);
    h.checkEqual(totp.issuer, h.cfg.tenant.name, 'the URI\'s issuer is the organisation');
    h.checkEqual(totp.label, S.max.email, 'the URI\'s label is the member\'s address');
    h.check(totp.secret.bytes.length >= 20, `the secret has ${totp.secret.bytes.length * 8} bits (at least 160)`);
    const shownKey = (await page.locator('main code, main .key').first().textContent()) ?? '';
    h.expect(shownKey.replace(/\s+/g, '').toUpperCase() === totp.secret.base32.replace(/=+$/, ''), `the key shown for typing is the QR code's secret ("${shownKey.trim().slice(0, 4)}…")`);
    const codes = new Codes(totp);
    facts = await h.submit(page, { fields: { code: codes.wrong() }, label: 'enrolment: after a wrong code', opts: { email: S.max.email } });
    h.checkEqual(facts.step, 'enroll', 'a wrong code keeps the enrolment page');
    h.expect(facts.alerts.length > 0, `a wrong code is refused with a message (role=alert): ${JSON.stringify(facts.alerts)}`);
    const again = decodeQr(facts.screenshots.light);
    h.expect(again[0] === uri, 'after a wrong code the QR code (from the new screenshot) is the same secret');
    facts = await h.submit(page, { fields: { code: (await codes.fresh()).code }, label: 'enrolment: after the right code', opts: { email: S.max.email } });
    h.checkEqual(facts.step, 'recovery_saved', 'the right code turns the authenticator on: the recovery-codes page');
    const recovery = await page.locator('main ul code, main ol code').allTextContents();
    h.checkEqual(recovery.length, 10, 'ten recovery codes are shown');
    h.checkEqual(new Set(recovery).size, 10, 'the ten codes are distinct');
    const recoveryUrl = page.url();
    facts = await h.submit(page, { label: 'after "I have saved them"' });
    h.check(h.rp.isCallback(page.url()), 'continuing goes back to the app', page.url());
    const c = await h.rp.claims(page, 'openid-client app after enrolment');
    h.check(Array.isArray(c.amr) && c.amr.includes('otp') && c.amr.includes('mfa'), `amr includes otp and mfa (${JSON.stringify(c.amr)})`);
    h.checkEqual(c.acr, ACR_MFA, 'acr is the REFEDS MFA profile');
    // Shown once: the recovery page's address, opened again, does not show them.
    facts = await h.visit(page, recoveryUrl, 'the recovery-codes page opened again');
    h.check(!recovery.some((code) => facts.text.includes(code)), 'the recovery codes are not shown again', facts.text.slice(0, 300));
    S.codes = codes;
    S.recovery = recovery;
  });

  await h.step('challenge', 'a fresh browser: the TOTP challenge refuses a wrong code and accepts the next one', ['enrol'], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.max.email, password: S.max.password, label: 'MFA challenge', stopAt: ['totp'] });
    h.checkEqual(out.facts.step, 'totp', 'after the password, the TOTP challenge');
    h.check(out.facts.text.includes(S.max.email), 'the challenge names the account', out.facts.text);
    let facts = await h.submit(page, { fields: { code: S.codes.wrong() }, label: 'challenge: after a wrong code', opts: { email: S.max.email } });
    h.checkEqual(facts.step, 'totp', 'a wrong code keeps the challenge');
    h.expect(facts.alerts.length > 0, `a wrong code is refused with a message (role=alert): ${JSON.stringify(facts.alerts)}`);
    facts = await h.submit(page, { fields: { code: (await S.codes.fresh()).code }, label: 'challenge: after the right code' });
    h.check(h.rp.isCallback(page.url()), 'the right code goes back to the app', page.url());
    const c = await h.rp.claims(page, 'openid-client app after the challenge');
    h.check(Array.isArray(c.amr) && c.amr.includes('otp') && c.amr.includes('mfa'), `amr includes otp and mfa (${JSON.stringify(c.amr)})`);
    h.checkEqual(c.acr, ACR_MFA, 'acr is the REFEDS MFA profile');
  });

  await h.step('recovery', 'another fresh browser signs in with a recovery code', ['enrol'], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.max.email, password: S.max.password, label: 'recovery code', stopAt: ['totp'] });
    h.checkEqual(out.facts.step, 'totp', 'the TOTP challenge');
    await h.submit(page, { fields: { code: S.recovery[0] }, label: 'challenge: after a recovery code' });
    h.check(h.rp.isCallback(page.url()), 'a recovery code goes back to the app', page.url());
    const c = await h.rp.claims(page, 'openid-client app after a recovery code');
    h.check(Array.isArray(c.amr) && c.amr.includes('pwd') && c.amr.includes('mfa') && !c.amr.includes('otp'), `amr is pwd + mfa without otp (${JSON.stringify(c.amr)})`);
  });
}
