//! Journey "account": a member manages their sign-in methods at {issuer}/security-info, in Chromium.
//!
//! - opening security info without a session goes through sign-in and back; the page lists the
//!   password;
//! - "Add an authenticator app": the enrolment page; this time the person types the key shown on
//!   the page (no QR code): the code `otpauth` computes from that key turns it on, the recovery
//!   codes are shown, and security info lists the authenticator;
//! - "Create new recovery codes": (after the second-factor step-up when asked) ten new codes,
//!   none of the old ones;
//! - "Remove": (after a step-up when asked) the authenticator is gone from the list.

import { Codes, fromManualKey } from '../harness/totp.mjs';

export const title = 'security info: add an authenticator by its typed key, new recovery codes, remove it';

export async function run(h) {
  const S = {};
  S.sam = h.member('sam', 'Sam Security');
  const url = `${h.issuer}/security-info`;

  /** Presses a security-info button; answers the TOTP step-up if one comes, and presses again. */
  async function press(page, value, label) {
    let facts = await h.submit(page, { button: { name: 'action', value }, label });
    if (facts.step === 'totp') {
      h.note(`"${value}" asked for the second factor first (step-up)`);
      facts = await h.submit(page, { fields: { code: (await S.codes.fresh()).code }, label: `${label}: after the step-up code` });
      h.check(facts.url.startsWith(url), 'the step-up returns to security info', facts.url);
      facts = await h.submit(page, { button: { name: 'action', value }, label: `${label} (again after the step-up)` });
    }
    return facts;
  }

  await h.step('open', 'security info: sign in on the way, the page lists the password', [], async () => {
    const { page } = await h.newContext();
    S.page = page;
    const out = await h.signIn(page, url, { email: S.sam.email, password: S.sam.password, label: 'security info sign-in' });
    h.check(page.url().startsWith(url), 'after signing in the browser is back at security info', { url: page.url(), out: out.landed });
    const facts = out.facts;
    h.check(facts.text.includes(S.sam.email), 'security info names the account', facts.text);
    h.checkEqual(await page.locator('button[name=action][value=remove]').count(), 0, 'no authenticator yet (no Remove button)');
  });

  await h.step('add', 'add an authenticator app by typing the key shown on the page', ['open'], async () => {
    const page = S.page;
    let facts = await h.submit(page, { button: { name: 'action', value: 'add' }, label: 'security info: after "Add an authenticator app"' });
    h.checkEqual(facts.step, 'enroll', 'the enrolment page');
    const key = (await page.locator('main .key, main code').first().textContent()) ?? '';
    h.check(/^[A-Z2-7\s]{26,}$/i.test(key.trim()), `the page shows a key to type (${key.trim().slice(0, 4)}…)`);
    S.codes = new Codes(fromManualKey(key));
    facts = await h.submit(page, { fields: { code: (await S.codes.fresh()).code }, label: 'enrolment from the typed key: after the code', opts: { email: S.sam.email } });
    h.checkEqual(facts.step, 'recovery_saved', 'the code from the typed key turns it on: the recovery-codes page');
    S.firstCodes = await page.locator('main ul code, main ol code').allTextContents();
    h.checkEqual(S.firstCodes.length, 10, 'ten recovery codes are shown');
    facts = await h.submit(page, { label: 'after "I have saved them"' });
    h.check(page.url().startsWith(url), 'back at security info', page.url());
    h.checkEqual(await page.locator('button[name=action][value=remove]').count(), 1, 'security info lists one authenticator (with a Remove button)');
  });

  await h.step('recovery', 'new recovery codes replace the old ones', ['add'], async () => {
    const page = S.page;
    await press(page, 'recovery', 'security info: after "Create new recovery codes"');
    const codes = await page.locator('main ul code, main ol code').allTextContents();
    h.checkEqual(codes.length, 10, 'ten new recovery codes are shown');
    h.check(!codes.some((c) => S.firstCodes.includes(c)), 'none of them is an old one');
  });

  await h.step('remove', 'remove the authenticator', ['add'], async () => {
    const page = S.page;
    await h.visit(page, url, 'security info');
    await press(page, 'remove', 'security info: after "Remove"');
    h.check(page.url().startsWith(url), 'back at security info', page.url());
    h.checkEqual(await page.locator('button[name=action][value=remove]').count(), 0, 'the authenticator is gone from the list');
  });
}
