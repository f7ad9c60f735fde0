//! Journey "member": a member of the tenant signs in with a password, as a person does in Chromium.
//!
//! - at the openid-client app: identifier, password, back at the app, whose page shows the claims
//!   of an ID token openid-client verified (signature against the JWKS, iss, aud, nonce, PKCE);
//! - a wrong password shows the error on the password page; reloading that page must not send the
//!   password again (Post/Redirect/Get: the reload is a GET);
//! - repeated wrong passwords lock the account (the run lowers the throttle: two free failures,
//!   the lock at the fourth), and then even the right password gets the lock message;
//! - the consent page (prompt=consent): Allow returns to the app, Cancel returns access_denied;
//! - My Apps lists both apps; the mod_auth_openidc app signs in silently in the same browser;
//! - RP-initiated logout from the openid-client app (buildEndSessionUrl) ends the Gatehouse session;
//!   the app registered a front-channel logout URI, so Gatehouse answers its signed-out page,
//!   which loads that URI in an iframe (iss = the issuer, a sid) and continues to the app;
//! - that signed-out page without scripts: checked like every page, and its Continue link;
//! - at Apache + mod_auth_openidc in a fresh browser: the same pages, OIDC_CLAIM_* on its page,
//!   and its logout (redirect_uri?logout=…) through Gatehouse's end_session_endpoint.

export const title = 'member sign-in, wrong password, lock, consent, My Apps, logout with front-channel logout (openid-client and mod_auth_openidc)';

export async function run(h) {
  const S = {};
  S.mia = h.member('mia', 'Mia Member');
  S.lena = h.member('lena', 'Lena Locked');
  S.olaf = h.member('olaf', 'Olaf Apache');

  await h.step('rp-signin', 'identifier → password → the openid-client app', [], async () => {
    const { page } = await h.newContext();
    S.rpPage = page;
    const out = await h.signIn(page, h.rp.login(), { email: S.mia.email, password: S.mia.password, label: 'member sign-in' });
    h.check(out.landed && h.rp.isCallback(out.landed), 'the browser is back at the app\'s redirect URI', out);
    const c = await h.rp.claims(page, 'openid-client app');
    h.ok('openid-client verified the ID token (signature against the JWKS, iss, aud, exp, nonce, state, PKCE)');
    h.checkEqual(c.email, S.mia.email, 'email claim');
    h.checkEqual(c.oid, S.mia.id, 'oid is the member');
    h.checkEqual(c.tid, h.cfg.tenant.id, 'tid is the tenant');
    h.check(Array.isArray(c.amr) && c.amr.includes('pwd'), `amr includes pwd (${JSON.stringify(c.amr)})`);
  });

  await h.step('wrong-password', 'a wrong password shows the error; reload is a GET (Post/Redirect/Get)', [], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.mia.email, stopAt: ['password'], label: 'wrong password' });
    h.checkEqual(out.facts.step, 'password', 'the password page');
    let facts = await h.submit(page, { fields: { password: `${S.mia.password}-wrong` }, label: 'after a wrong password', opts: { email: S.mia.email } });
    h.checkEqual(facts.step, 'password', 'a wrong password leaves the browser on the password page');
    h.expect(facts.alerts.length > 0 && /incorrect|wrong|not right/i.test(facts.alerts.join(' ')), `the page shows the error (role=alert): ${JSON.stringify(facts.alerts)}`);
    h.expect(facts.post?.method === 'POST' && facts.post.status === 303, `the wrong password's POST answers 303 See Other (got ${facts.post?.method} ${facts.post?.status})`);
    const response = await page.reload({ timeout: 15_000 });
    const method = response?.request().method();
    h.expect(method === 'GET', `reloading the page after a wrong password sends a GET, not the password again (Post/Redirect/Get; the reload sent ${method})`);
    facts = await h.checkPage(page, 'the password page after reload', { email: S.mia.email, response });
    h.checkEqual(facts.step, 'password', 'after the reload, still the password page');
    facts = await h.submit(page, { fields: { password: S.mia.password }, label: 'after the right password' });
    h.check(h.rp.isCallback(page.url()), 'the right password then signs in', page.url());
    const c = await h.rp.claims(page, 'openid-client app');
    h.checkEqual(c.oid, S.mia.id, 'oid is the member');
  });

  await h.step('lockout', 'repeated wrong passwords lock the account; the right one then gets the lock message', [], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.lena.email, stopAt: ['password'], label: 'lockout' });
    h.checkEqual(out.facts.step, 'password', 'the password page');
    const { password_free_failures: free, password_lockout: lockAt } = h.cfg.throttle;
    let failures = 0;
    let facts;
    const deadline = Date.now() + 30_000;
    while (failures < lockAt && Date.now() < deadline) {
      // After the free failures each failure sets a doubling delay (1 s, 2 s, …) before the next
      // try is even looked at: wait it out, as a person would, so every try below counts.
      if (failures > free) await h.sleep(2 ** (failures - free - 1) * 1000 + 300);
      facts = await h.submit(page, { fields: { password: `wrong-${failures}` }, label: `wrong password ${failures + 1}`, opts: { email: S.lena.email } });
      const alert = facts.alerts.join(' ');
      const wait = alert.match(/(\d+|one|two|a few)\s*(?:s\b|sec)/i);
      if (wait && failures < lockAt - 1) {
        // Still a short delay (the wait above was too short): wait again and retry this try.
        h.note(`the throttle still asks to wait: ${alert}`);
        await h.sleep(2_300);
        continue;
      }
      failures += 1;
    }
    h.checkEqual(failures, lockAt, `${lockAt} wrong passwords were submitted`);
    facts = await h.submit(page, { fields: { password: S.lena.password }, label: 'the right password on a locked account', opts: { email: S.lena.email } });
    h.check(h.isGatehouse(page.url()), 'the right password does not sign a locked account in', page.url());
    const alert = facts.alerts.join(' ');
    h.expect(/locked|too many/i.test(alert), `the page shows the account-locked message (role=alert): ${JSON.stringify(alert)}`);
    S.lockMessage = alert;
  });

  await h.step('consent', 'the consent page (prompt=consent): Allow returns to the app, Cancel returns access_denied', ['rp-signin'], async () => {
    const page = S.rpPage;
    let facts = await h.visit(page, h.rp.login({ prompt: 'consent' }), 'consent page');
    h.checkEqual(facts.step, 'consent', 'with a session, prompt=consent shows the consent page');
    h.expect(facts.text.includes(h.cfg.rp.name), `the consent page names the app (${h.cfg.rp.name})`, facts.text);
    facts = await h.submit(page, { button: { name: 'decision', value: 'allow' }, label: 'after Allow' });
    const c = await h.rp.claims(page, 'after consent');
    h.checkEqual(c.oid, S.mia.id, 'Allow: the app gets the member\'s ID token');
    facts = await h.visit(page, h.rp.login({ prompt: 'consent' }), 'consent page again');
    h.checkEqual(facts.step, 'consent', 'the consent page again');
    facts = await h.submit(page, { button: { name: 'decision', value: 'deny' }, label: 'after Cancel' });
    h.check(h.rp.isCallback(page.url()), 'Cancel returns to the app', page.url());
    h.checkEqual(new URL(page.url()).searchParams.get('error'), 'access_denied', 'Cancel: error=access_denied');
  });

  await h.step('myapps', 'My Apps lists both apps; mod_auth_openidc signs in silently in the same browser', ['rp-signin'], async () => {
    const page = S.rpPage;
    const facts = await h.visit(page, `${h.issuer}/myapps`, 'My Apps');
    h.expect(facts.text.includes(S.mia.email), 'My Apps shows who is signed in', facts.text);
    const links = await page.locator('main a').evaluateAll((as) => as.map((a) => ({ text: a.textContent.trim(), href: a.href })));
    for (const [name, url] of [[h.cfg.rp.name, `${h.cfg.rp.origin}/`], [h.cfg.apache.name, h.cfg.apache.protected]]) {
      h.expect(links.some((l) => l.text === name && l.href === url), `My Apps links "${name}" to ${url}`, links);
    }
    await page.locator('main a', { hasText: h.cfg.apache.name }).click();
    await page.waitForURL((u) => u.href.startsWith(h.cfg.apache.protected), { timeout: 15_000 });
    await h.checkPage(page, 'mod_auth_openidc app from My Apps');
    const c = await h.apache.claims(page, 'mod_auth_openidc app');
    h.checkEqual(c.email, S.mia.email, 'mod_auth_openidc: OIDC_CLAIM_email (single sign-on, no page in between)');
    h.checkEqual(c.oid, S.mia.id, 'mod_auth_openidc: OIDC_CLAIM_oid');
  });

  await h.step('rp-logout', 'RP-initiated logout from the openid-client app: the signed-out page loads its front-channel logout URI, then continues to its post_logout_redirect_uri', ['rp-signin'], async () => {
    const page = S.rpPage;
    await page.goto(h.rp.login(), { timeout: 15_000 });
    const c = await h.rp.claims(page, 'before logout (single sign-on)');
    h.checkEqual(c.oid, S.mia.id, 'before logout the session signs in without a page');
    const before = (await h.rp.frontchannelCalls()).length;
    // Gatehouse's signed-out page continues by itself once its iframe has loaded: nothing is
    // audited on it here (the 'signed-out-page' step below checks it with scripts off). The
    // documents the browser loads are recorded instead, and the wait is for the app's page.
    const documents = [];
    const onResponse = (r) => {
      try {
        if (r.request().isNavigationRequest()) documents.push({ url: r.url(), status: r.status(), main: r.frame() === page.mainFrame() });
      } catch {
        /* a frame already gone */
      }
    };
    page.on('response', onResponse);
    let landed;
    try {
      // Only until the first document commits: the page may leave before its own load event.
      const response = await page.goto(h.rp.logout, { timeout: 15_000, waitUntil: 'commit' }).catch((err) => err);
      h.check(!(response instanceof Error), 'the app\'s /logout opens', String(response?.message ?? ''));
      landed = await page.waitForURL((u) => u.href.startsWith(`${h.rp.postLogout}?`), { timeout: 15_000 }).then(() => true, () => false);
      if (!landed && h.isGatehouse(page.url()) && (await page.locator('input[name=confirm]').count()) > 0) {
        // A confirmation page (the hint did not suffice): a person presses Sign out.
        h.note(`Gatehouse shows a confirmation page at logout: "${(await page.locator('h1').first().textContent()) ?? ''}"`);
        await h.submit(page, { label: 'after confirming sign-out', audit: false });
        landed = await page.waitForURL((u) => u.href.startsWith(`${h.rp.postLogout}?`), { timeout: 15_000 }).then(() => true, () => false);
      }
    } finally {
      page.off('response', onResponse);
    }
    h.check(landed, 'logout ends at the app\'s post_logout_redirect_uri', { url: page.url(), documents });
    await h.checkPage(page, 'the app after logout');
    const signedOut = documents.find((d) => d.main && h.isGatehouse(d.url) && new URL(d.url).pathname === `/${h.slug}/oauth2/logout`);
    h.checkEqual(signedOut?.status, 200, 'Gatehouse answers the logout with its signed-out page (200, not a 303), because the app registered a front-channel logout URI');
    const framed = documents.filter((d) => !d.main && d.url.startsWith(`${h.rp.frontchannelLogout}?`));
    h.checkEqual(framed.length, 1, 'the signed-out page loaded the app\'s front-channel logout URI in one iframe');
    const calls = await frontchannelCallsAfter(h, before);
    h.checkEqual(calls.length, 1, 'the app\'s front-channel logout URI was called once');
    h.checkEqual(calls[0].iss, h.issuer, 'the front-channel call\'s iss is the tenant\'s issuer');
    h.check(typeof calls[0].sid === 'string' && calls[0].sid.length > 0, `the front-channel call carries a sid (${JSON.stringify(calls[0].sid)})`);
    h.checkEqual(calls[0].dest, 'iframe', 'the browser loaded it as an iframe (Sec-Fetch-Dest)');
    S.frontchannelSid = calls[0].sid;
    h.checkEqual(await page.locator('#result').textContent(), 'Signed out', 'the app checked the state it sent');
    const facts = await h.visit(page, h.rp.login(), 'sign-in after logout');
    h.checkEqual(facts.step, 'identify', 'after logout, signing in again asks for the e-mail address (the Gatehouse session is gone)');
  });

  await h.step('signed-out-page', 'the signed-out page with its front-channel iframe, without scripts: checked like every page; its Continue link leads to the post_logout_redirect_uri', [], async () => {
    const { context, page } = await h.newContext();
    const out = await h.signIn(page, h.rp.login(), { email: S.mia.email, password: S.mia.password, label: 'sign-in before the signed-out page' });
    h.check(out.landed && h.rp.isCallback(out.landed), 'signed in at the app', out);
    const before = (await h.rp.frontchannelCalls()).length;
    // The logout page is parsed as in a browser without scripts (its continue script does not
    // run, so it stays on screen); scripts are back on once it has loaded (iframe included),
    // so that the page checks (axe-core) can run on it. A script parsed while scripts were off
    // is not run later, so the page cannot leave during the checks.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
    const response = await page.goto(h.rp.logout, { timeout: 15_000 }).catch((err) => err);
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: false });
    h.check(!(response instanceof Error), 'the app\'s /logout opens', String(response?.message ?? ''));
    h.check(h.isGatehouse(page.url()), 'without scripts the browser stays on Gatehouse\'s signed-out page', page.url());
    const facts = await h.checkPage(page, 'the signed-out page with a front-channel iframe, no scripts', { response, status: 200 });
    h.check(h.isGatehouse(page.url()), 'the signed-out page is still there after the page checks (its script did not run)', page.url());
    h.expect(/signed out/i.test(facts.h1 ?? ''), `the page says the person is signed out (h1 "${facts.h1}")`);
    const frames = await page.locator('iframe').evaluateAll((fs) => fs.map((f) => ({ src: f.src, title: f.title, cls: f.className })));
    h.checkEqual(frames.length, 1, 'one iframe: the one app of the session with a front-channel logout URI', frames);
    const src = new URL(frames[0].src);
    h.checkEqual(`${src.origin}${src.pathname}`, h.rp.frontchannelLogout, 'the iframe loads the app\'s front-channel logout URI');
    h.checkEqual(src.searchParams.get('iss'), h.issuer, 'the iframe\'s iss is the tenant\'s issuer');
    h.expect(frames[0].title.trim().length > 0, `the iframe has a title ("${frames[0].title}")`);
    const calls = await frontchannelCallsAfter(h, before);
    h.checkEqual(calls.length, 1, 'the app\'s front-channel logout URI was called once (with scripts off too)');
    h.checkEqual(calls[0].iss, h.issuer, 'the front-channel call\'s iss is the tenant\'s issuer');
    h.check(typeof calls[0].sid === 'string' && calls[0].sid.length > 0 && calls[0].sid === src.searchParams.get('sid'), `the front-channel call carries the iframe's sid (${JSON.stringify(calls[0].sid)})`);
    if (S.frontchannelSid) h.expect(calls[0].sid !== S.frontchannelSid, 'another session, another sid');
    const next = page.locator('a#next');
    h.checkEqual(await next.count(), 1, 'the page has a Continue link (a#next)');
    h.check(await next.isVisible(), 'the Continue link is visible');
    const label = ((await next.textContent()) ?? '').trim();
    h.expect(label.length > 0, `the Continue link has a text ("${label}")`);
    h.check(((await next.getAttribute('href')) ?? '').startsWith(`${h.rp.postLogout}?state=`), 'the Continue link leads to the post_logout_redirect_uri with the app\'s state', await next.getAttribute('href'));
    const navigation = page.waitForURL((u) => u.href.startsWith(`${h.rp.postLogout}?`), { timeout: 15_000 }).then(() => true, () => false);
    await next.click();
    h.check(await navigation, 'clicking Continue lands at the app\'s post_logout_redirect_uri', page.url());
    await h.checkPage(page, 'the app after Continue');
    h.checkEqual(await page.locator('#result').textContent(), 'Signed out', 'the app checked the state it sent');
    const again = await h.visit(page, h.rp.login(), 'sign-in after the signed-out page');
    h.checkEqual(again.step, 'identify', 'after logout, signing in again asks for the e-mail address (the Gatehouse session is gone)');
  });

  await h.step('apache', 'Apache + mod_auth_openidc: identifier → password → OIDC_CLAIM_* on the protected page; its logout', [], async () => {
    const { page } = await h.newContext();
    const out = await h.signIn(page, h.apache.protected, { email: S.olaf.email, password: S.olaf.password, label: 'mod_auth_openidc sign-in' });
    h.check(out.landed?.startsWith(h.apache.protected), 'the browser ends on the protected page', out);
    const c = await h.apache.claims(page, 'mod_auth_openidc app');
    h.ok('mod_auth_openidc validated the ID token and let the browser in');
    h.checkEqual(c.email, S.olaf.email, 'OIDC_CLAIM_email');
    h.checkEqual(c.oid, S.olaf.id, 'OIDC_CLAIM_oid');
    h.checkEqual(c.tid, h.cfg.tenant.id, 'OIDC_CLAIM_tid');
    h.check((c.amr ?? '').split(',').includes('pwd'), `OIDC_CLAIM_amr includes pwd (${c.amr})`);
    let facts = await h.visit(page, h.apache.logout, 'mod_auth_openidc logout');
    if (h.isGatehouse(page.url())) {
      h.note(`Gatehouse shows a page at logout: "${facts.h1}"`);
      facts = await h.submit(page, { label: 'after confirming sign-out' });
    }
    h.checkEqual(page.url(), h.apache.loggedOut, 'mod_auth_openidc\'s logout ends at its post_logout_redirect_uri');
    facts = await h.visit(page, h.apache.protected, 'protected page after logout');
    h.check(h.isGatehouse(page.url()) && facts.step === 'identify', 'after logout the protected page needs a new sign-in with the e-mail address (both sessions are gone)', { url: page.url(), step: facts.step });
  });
}

/**
 * The calls of the app's front-channel logout URI after the first `before`: waits (bounded, 5 s)
 * until there is at least one, then returns them all.
 */
async function frontchannelCallsAfter(h, before) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const calls = (await h.rp.frontchannelCalls()).slice(before);
    if (calls.length > 0 || Date.now() > deadline) return calls;
    await h.sleep(100);
  }
}
