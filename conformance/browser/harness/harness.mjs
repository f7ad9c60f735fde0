//! The browser suite's harness: what every journey in ../journeys/ is handed (`h`).
//!
//!   h.cfg, h.issuer, h.slug            the run's config (written by ../run.sh)
//!   h.step(key, title, needs, body)    a group of checks (runStep): a failed hard check ends
//!                                      the step, later steps that need it do not run
//!   h.check / checkEqual / ok / fail   hard checks (throw and end the step)
//!   h.expect(cond, message, detail)    a soft check: counted, printed, and the step goes on
//!   h.note(message)                    a line of information
//!   h.newContext(options)              a fresh Chromium context + page (locale, colour scheme…),
//!                                      closed when the journey ends
//!   h.visit(page, url, label, opts)    page.goto, then h.checkPage
//!   h.checkPage(page, label, opts)     the page checks of audit.mjs on a Gatehouse page (a
//!                                      screenshot only on the apps' pages); returns the facts
//!   h.submit(page, {fields, button, label, opts})  fill the form like a person, press the
//!                                      button (default: the form's first submit button, what
//!                                      Enter presses), wait for the page, h.checkPage
//!   h.signIn(page, start, {...})       drive the sign-in pages from an app's /login to the app
//!   h.mail.next(to, what) / h.mail.all(to) / h.mail.passcode(mail)   the SMTP sink
//!   h.cli(args, {input})               the gatehouse CLI (same database as the server)
//!   h.api(method, path, body)          the admin API with the inviter app's token
//!   h.member(local, name)              a member made with the CLI: {id, email, name, password}
//!   h.rp / h.apache                    the two apps: URLs and reading their claims pages (and
//!                                      the calls of the openid-client app's front-channel
//!                                      logout URI, h.rp.frontchannelCalls())
//!   h.freePort() / h.spawn(name, cmd, args, {ready})  a helper only this journey needs (an SP, an
//!                                      upstream IdP) in its own process group, stopped when the
//!                                      journey ends
//!
//! Nothing here sets a request header: the browser sends what it sends. Every wait is bounded
//! (Playwright's timeouts, the sink's long-poll, explicit deadlines).

import { execFileSync, spawn as spawnProcess } from 'node:child_process';
import { appendFileSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { decodeEntities } from '../../lib/browser.mjs';
import { CheckFailed, check, checkEqual, describe, fail, ok, tally } from '../../lib/checks.mjs';
import { DESKTOP, auditPage, pageFacts } from './audit.mjs';

export const ACTION_TIMEOUT_MS = 10_000;
export const NAVIGATION_TIMEOUT_MS = 15_000;
const MAIL_WAIT_MS = 20_000;

/** Shared by every journey: the page records, the failures, the screenshot counter. */
export const run = { records: [], failures: [], groups: new Map(), outcomes: new Map(), summary: [], children: new Set(), shots: 0, apiToken: null, apiTokenExpires: 0 };

/** `/{tenant}/login?tx=…`: the URL with the slug and the query values left out. */
export function urlTemplate(url, slug) {
  const u = new URL(url);
  const path = u.pathname.replace(new RegExp(`^/${slug}(?=/|$)`), '/{tenant}');
  const query = [...new Set(u.searchParams.keys())].map((k) => `${k}=…`).join('&');
  return `${u.port === new URL(run.publicUrl).port ? '' : `${u.origin}`}${path}${query ? `?${query}` : ''}`;
}

function slugify(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 50);
}

/**
 * Runs one step of a journey: a group of checks. A failed hard check (h.check, h.fail…) ends the
 * step, and later steps that need it are reported as NOT RUN (one failure each); failed soft
 * checks (h.expect and the page checks) are counted and the step goes on, and steps that need
 * it still run. Every step gets a line in the summary: PASS, FAIL (with how many checks failed,
 * and whether it ended early) or NOT RUN.
 */
export async function runStep(journeyId, key, title, needs, body) {
  const full = `${journeyId}: ${title}`;
  tally.step = full;
  console.log(`\n== ${full}`);
  const missing = needs.filter((n) => run.outcomes.get(`${journeyId}:${n}`) !== 'pass');
  if (missing.length > 0) {
    tally.failed += 1;
    run.outcomes.set(`${journeyId}:${key}`, 'skip');
    const line = `NOT RUN  ${full} (needs: ${missing.join(', ')})`;
    console.log(`  FAIL ${line}`);
    run.summary.push(line);
    run.failures.push({ journey: journeyId, step: full, message: line });
    return;
  }
  const passedBefore = tally.passed;
  const failedBefore = tally.failed;
  try {
    await body();
    run.outcomes.set(`${journeyId}:${key}`, 'pass');
    const failed = tally.failed - failedBefore;
    const passed = tally.passed - passedBefore;
    run.summary.push(failed ? `FAIL     ${full} (${passed} checks passed, ${failed} failed; the step went on)` : `PASS     ${full} (${passed} checks)`);
  } catch (err) {
    tally.failed += 1;
    run.outcomes.set(`${journeyId}:${key}`, 'fail');
    const message = err instanceof CheckFailed ? err.message : `[${full}] unexpected error: ${JSON.stringify(describe(err), null, 2)}`;
    console.log(`  FAIL ${message}`);
    if (!(err instanceof CheckFailed) && err?.stack) console.log(err.stack);
    run.failures.push({ journey: journeyId, step: full, message: `(the step ended) ${message.replace(/^\[[^\]]*\] /, '')}` });
    run.summary.push(`FAIL     ${full} (ended after ${tally.passed - passedBefore} checks passed, ${tally.failed - failedBefore} failed)`);
  }
}

export function makeHarness(cfg, browser, journey) {
  const issuer = cfg.issuer;
  const gatehouseOrigin = new URL(cfg.public_url).origin;
  const contexts = [];
  const mailCursor = new Map();
  run.publicUrl = cfg.public_url;

  const note = (message) => console.log(`  ..   ${message}`);

  /**
   * A soft check: printed and counted like a hard one, but the step goes on. `group` names the
   * same check on the same page template: its detail is printed the first time only.
   */
  function expect(condition, message, detail, group = message) {
    if (condition) {
      ok(message);
      return true;
    }
    tally.failed += 1;
    let text = `[${tally.step}] ${message}`;
    const seen = run.groups.get(group);
    if (seen) {
      text += ` (the same as at ${seen.first}; detail there)`;
    } else if (detail !== undefined && !(Array.isArray(detail) && detail.length === 0)) {
      text += `\n       detail: ${typeof detail === 'string' ? detail : JSON.stringify(detail, null, 2).split('\n').join('\n       ')}`;
    }
    console.log(`  FAIL ${text}`);
    if (seen) seen.count += 1;
    else run.groups.set(group, { first: run.currentShot ?? tally.step, count: 1, journey: journey.id, message });
    run.failures.push({ journey: journey.id, step: tally.step, message, detail: seen ? undefined : detail, group });
    return false;
  }

  async function newContext(options = {}) {
    const context = await browser.newContext({ viewport: DESKTOP, colorScheme: 'light', locale: 'en-US', ...options });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    contexts.push(context);
    const page = await context.newPage();
    page.on('dialog', (d) => d.dismiss().catch(() => {}));
    return { context, page };
  }

  const isGatehouse = (url) => {
    try {
      return new URL(url).origin === gatehouseOrigin;
    } catch {
      return false;
    }
  };

  /**
   * The checks of one page (audit.mjs) on Gatehouse's pages, a screenshot of the apps' pages.
   * `opts`: email (the address of the hidden username field), passwordKind ('current' | 'new'),
   * status (the HTTP status the page must have), response (the navigation's response).
   * A self-submitting form page of Gatehouse (form_post, SAML POST binding) is followed to the
   * page it lands on, which is then checked (with scripts off it stays and is checked itself).
   */
  async function checkPage(page, label, opts = {}, depth = 0) {
    await page.waitForLoadState('load', { timeout: NAVIGATION_TIMEOUT_MS }).catch(() => {});
    if (isGatehouse(page.url()) && depth < 3) {
      // An auto-submitting form (response_mode=form_post, the SAML HTTP-POST binding) posts
      // itself on to the app as soon as it is parsed: follow the browser to where that lands and
      // check that page. A page parsed without scripts (script execution off while it loaded, so
      // its <noscript> content is markup) stays, and is checked like any page a person sees.
      const before = page.url();
      const target = await page.evaluate(() => {
        const form = document.querySelector('form#auto');
        if (!form || !document.querySelector('script')) return null;
        const noscript = form.querySelector('noscript') ?? document.querySelector('noscript');
        return noscript && noscript.children.length > 0 ? null : form.action;
      }).catch(() => 'navigating');
      if (target) {
        const left = await page.waitForURL((u) => u.href !== before, { timeout: NAVIGATION_TIMEOUT_MS, waitUntil: 'load' }).then(() => true, () => false);
        if (!left) fail(`${label}: Gatehouse's self-submitting form did not post itself to ${target} within ${NAVIGATION_TIMEOUT_MS / 1000} s`, { url: before });
        note(`${label}: Gatehouse's self-submitting form posted itself to ${target === 'navigating' ? 'the app' : target}`);
        return checkPage(page, label, { ...opts, response: null, status: undefined }, depth + 1);
      }
    }
    run.shots += 1;
    const shot = `${String(run.shots).padStart(3, '0')}-${journey.id}-${slugify(label)}`;
    const url = page.url();
    const status = opts.response ? opts.response.status() : null;
    if (!isGatehouse(url)) {
      await page.screenshot({ path: join(cfg.artifacts, 'screenshots', `${shot}.png`), fullPage: true }).catch(() => {});
      const facts = await pageFacts(page);
      note(`${label}: ${urlTemplate(url, h.slug)} (an app's page: screenshot ${shot}.png, not audited)`);
      return { ...facts, status };
    }
    const { facts, record, findings } = await auditPage(page, { dir: join(cfg.artifacts, 'screenshots'), shot, opts });
    const template = urlTemplate(url, h.slug);
    run.records.push({ seq: run.shots, journey: journey.id, label, template, status, colorSchemeStart: 'light', ...record });
    const where = `${template}${facts.step ? ` [${facts.step}]` : ''}`;
    console.log(`  page ${shot}: ${where} "${facts.title}" lang=${facts.lang} status=${status ?? '?'}`);
    const failed = [];
    for (const f of findings) {
      if (f.ok) {
        tally.passed += 1;
      } else {
        failed.push(f);
      }
    }
    const passed = findings.length - failed.length;
    if (passed) console.log(`  ok   ${label}: ${passed} page checks (${findings.filter((f) => f.ok).map((f) => f.message.split(':')[0].split(' (')[0]).filter((v, i, a) => a.indexOf(v) === i).join('; ')})`);
    run.currentShot = `page ${shot}`;
    for (const f of failed) expect(false, `${label} — ${where}: ${f.message}`, f.detail, `${where} :: ${f.id}`);
    run.currentShot = null;
    if (opts.status !== undefined && status !== null) expect(status === opts.status, `${label}: HTTP status ${status} (want ${opts.status})`);
    return { ...facts, status, screenshots: { light: record.schemes.light?.screenshot, dark: record.schemes.dark?.screenshot, mobile: record.mobile?.screenshot } };
  }

  async function visit(page, url, label, opts = {}) {
    const response = await page.goto(url, { timeout: NAVIGATION_TIMEOUT_MS }).catch((err) => err);
    if (response instanceof Error) fail(`${label}: opening ${url} failed`, response.message.split('\n')[0]);
    return checkPage(page, label, { ...opts, response });
  }

  /**
   * Fills `fields` (by name) in the page's form, presses `button` ({name, value}, or a locator
   * string; default the form's first submit button) and waits for the next page. Returns the new
   * page's facts plus `post` ({method, status} of the request the button sent, after redirects
   * the first request of the chain).
   */
  async function submit(page, { fields = {}, button, label, opts = {}, audit = true }) {
    let form = page.locator('form[method=post], form[method=POST]');
    const withStep = page.locator('form:has(input[name=step])');
    if ((await withStep.count()) === 1) form = withStep;
    else if ((await form.count()) !== 1) form = page.locator('form').first();
    else form = form.first();
    const here = async () => ({ url: page.url(), step: (await pageFacts(page)).step, h1: (await pageFacts(page)).h1 });
    for (const [name, value] of Object.entries(fields)) {
      const field = form.locator(`[name="${name}"]:visible`).first();
      if ((await field.count()) === 0) fail(`${label}: the page has no visible field "${name}" to fill in`, await here());
      await field.fill(value);
    }
    let target;
    if (typeof button === 'string') target = page.locator(button).first();
    else if (button) target = page.locator(`button[name="${button.name}"][value="${button.value}"]`).first();
    else target = form.locator('button[type=submit], button:not([type]), input[type=submit]').first();
    const what = typeof button === 'string' ? button : button ? `the button ${button.name}=${button.value}` : 'the form\'s submit button';
    if ((await target.count()) === 0) fail(`${label}: the page has no ${what}`, await here());
    const navigation = page.waitForNavigation({ timeout: NAVIGATION_TIMEOUT_MS }).catch((err) => err);
    await target.click();
    const response = await navigation;
    if (response instanceof Error) {
      // No new page: a validation bubble (required, pattern) or a button that does nothing.
      const invalid = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')].filter((e) => !e.checkValidity()).map((e) => `${e.name}: ${e.validationMessage}`)).catch(() => []);
      fail(`${label}: pressing ${what} did not load a page within ${NAVIGATION_TIMEOUT_MS / 1000} s`, { ...(await here()), invalidFields: invalid, error: response.message.split('\n')[0] });
    }
    let first = response?.request();
    while (first?.redirectedFrom()) first = first.redirectedFrom();
    const firstResponse = first ? await first.response() : null;
    const post = first ? { method: first.method(), status: firstResponse?.status() ?? null, url: first.url() } : null;
    const facts = audit ? await checkPage(page, label, { ...opts, response }) : await pageFacts(page);
    return { ...facts, post, response };
  }

  // ------------------------------------------------------------------------------- the mail
  const mail = {
    async next(to, what, waitMs = MAIL_WAIT_MS) {
      const after = mailCursor.get(to.toLowerCase()) ?? 0;
      const url = `${cfg.sink.http}/messages?to=${encodeURIComponent(to)}&after=${after}&wait=${waitMs}`;
      const { messages } = await (await fetch(url)).json();
      if (!messages.length) fail(`${what}: no e-mail to ${to} reached the SMTP server within ${waitMs / 1000} s`);
      const m = messages[0];
      mailCursor.set(to.toLowerCase(), m.seq);
      return m;
    },
    async all(to) {
      const { messages } = await (await fetch(`${cfg.sink.http}/messages?to=${encodeURIComponent(to)}`)).json();
      return messages;
    },
    passcode(m, what = 'passcode e-mail') {
      const found = (m.text ?? '').match(/(?:^|\s)(\d{6})(?:\s|$)/);
      if (!found) fail(`${what}: no six-digit code in the e-mail`, m.text);
      return found[1];
    },
    links(m) {
      return [...(m.html ?? '').matchAll(/<a\b[^>]*\bhref="([^"]+)"/gi)].map((x) => decodeEntities(x[1]));
    },
  };

  // --------------------------------------------------------------------- CLI and admin API
  function cli(args, { input } = {}) {
    try {
      const out = execFileSync(cfg.cli.bin, args, { cwd: cfg.cli.cwd, env: process.env, encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
      const trimmed = out.trim();
      if (!trimmed) return null;
      try {
        return JSON.parse(trimmed);
      } catch {
        return trimmed.split('\n').map((line) => JSON.parse(line));
      }
    } catch (err) {
      if (err.stderr) appendFileSync(cfg.cli.log, String(err.stderr));
      fail(`gatehouse ${args.join(' ')} failed`, { status: err.status, stderr: String(err.stderr ?? '').slice(-1500), message: err.message });
    }
  }

  async function apiToken() {
    if (run.apiToken && Date.now() < run.apiTokenExpires) return run.apiToken;
    const basic = Buffer.from(`${encodeURIComponent(cfg.inviter.client_id)}:${encodeURIComponent(cfg.inviter.client_secret)}`).toString('base64');
    const res = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'User.Invite.All User.Read.All' }),
    });
    const body = await res.json();
    if (!res.ok) fail(`the inviter app's client_credentials token: HTTP ${res.status}`, body);
    run.apiToken = body.access_token;
    run.apiTokenExpires = Date.now() + (body.expires_in - 30) * 1000;
    return run.apiToken;
  }

  async function api(method, path, body) {
    const headers = { accept: 'application/json', authorization: `Bearer ${await apiToken()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${issuer}/v1.0${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, json, text };
  }

  function member(local, name) {
    const email = `${local}@${cfg.tenant.domain}`;
    const password = `Browser-${journey.id}-${Math.random().toString(36).slice(2, 10)}!`;
    const user = cli(['user', 'create', '--tenant', cfg.tenant.slug, '--email', email, '--name', name, '--password-stdin'], { input: `${password}\n` });
    return { id: user.id, email, name, password };
  }

  // ---------------------------------------------------------------------------- the apps
  /** The claims an app's page shows (<pre id="claims">), or fails with what the page shows. */
  async function claimsOn(page, what) {
    const result = await page.locator('#result').textContent({ timeout: 2_000 }).catch(() => null);
    if (result !== 'Signed in') {
      const error = await page.locator('#error').textContent({ timeout: 1_000 }).catch(() => null);
      fail(`${what}: the app's page says ${JSON.stringify(result)} at ${page.url()}`, error ?? (await pageFacts(page)).text.slice(0, 800));
    }
    return JSON.parse(await page.locator('#claims').textContent());
  }
  const rp = {
    origin: cfg.rp.origin,
    login: (params = {}) => `${cfg.rp.origin}/login${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ''}`,
    logout: `${cfg.rp.origin}/logout`,
    isCallback: (url) => url.startsWith(`${cfg.rp.origin}/callback`),
    claims: claimsOn,
    postLogout: cfg.rp.post_logout_redirect_uri,
    frontchannelLogout: cfg.rp.frontchannel_logout_uri,
    /** Every call of the app's front-channel logout URI so far: [{iss, sid, dest, at}]. */
    frontchannelCalls: async () => (await (await fetch(`${cfg.rp.origin}/frontchannel-calls`)).json()).calls,
  };
  const apache = {
    origin: cfg.apache.origin,
    protected: cfg.apache.protected,
    logout: `${cfg.apache.origin}/protected/redirect_uri?logout=${encodeURIComponent(cfg.apache.logged_out)}`,
    loggedOut: cfg.apache.logged_out,
    claims: claimsOn,
  };

  // ------------------------------------------------------------------------ the sign-in pages
  /**
   * Drives the sign-in pages from `start` (a URL to open, or null when the page is already on
   * the first sign-in page) until the browser leaves Gatehouse (returns {landed: url}) or
   * reaches a step in `stopAt` or one this driver does not answer (returns {facts}).
   *   method: 'password' or 'code'; codeFirst: for 'code', the code page must come first (a
   *   passcode-only guest must never get a password page); a password page is then a failure,
   *   and the driver goes on with "Email me a one-time code instead" so later checks still run.
   */
  async function signIn(page, start, { email, password, method = 'password', codeFirst = method === 'code', stopAt = [], label = 'sign-in', consent = 'allow' } = {}) {
    let facts = start ? await visit(page, start, `${label}: first page`) : await checkPage(page, `${label}: first page`);
    for (let i = 0; i < 12; i += 1) {
      if (!isGatehouse(page.url())) return { landed: page.url(), facts };
      const s = facts.step;
      if (stopAt.includes(s)) return { facts };
      switch (s) {
        case 'identify':
          facts = await submit(page, { fields: { email }, label: `${label}: after the e-mail`, opts: { email, passwordKind: 'current' } });
          if (facts.step === 'password' && method === 'code' && codeFirst) {
            expect(false, `${label}: a passcode-only guest is offered the code first, never a password page (got the password page)`, { url: facts.url, h1: facts.h1 });
          } else if (facts.step === 'code' && method === 'code' && codeFirst) {
            ok(`${label}: after the e-mail the code page comes first`);
          }
          break;
        case 'password':
          if (method === 'password') facts = await submit(page, { fields: { password }, label: `${label}: after the password`, opts: { email } });
          else facts = await submit(page, { button: { name: 'action', value: 'send_code' }, label: `${label}: after "Email me a code"`, opts: { email } });
          break;
        case 'code': {
          const m = await mail.next(email, `${label}: the sign-in code`);
          facts = await submit(page, { fields: { code: mail.passcode(m) }, label: `${label}: after the code`, opts: { email } });
          break;
        }
        case 'consent':
          facts = await submit(page, { button: { name: 'decision', value: consent }, label: `${label}: after consent`, opts: { email } });
          break;
        default:
          return { facts };
      }
    }
    fail(`${label}: the sign-in did not finish within 12 pages`, { url: page.url(), step: facts.step });
  }

  /**
   * Redeems an invitation from `link` as a person does: the landing page, Accept, the code from
   * the second e-mail (a wrong code first when `wrongCodeFirst`), then sets `password` or skips,
   * then consents. Returns {landed, pages: {accept, code, password, consent}} (each page's facts).
   */
  async function redeem(page, link, { email, password = null, wrongCodeFirst = false, label = 'redeem' }) {
    const pages = {};
    let facts = await visit(page, link, `${label}: invitation landing page`);
    checkEqual(facts.step, 'accept', `${label}: the invitation link opens the landing page (step)`);
    pages.accept = facts;
    facts = await submit(page, { label: `${label}: after Accept`, opts: { email } });
    checkEqual(facts.step, 'code', `${label}: after Accept, the page asks for the mailed code (step)`);
    pages.code = facts;
    const codeMail = await mail.next(email, `${label}: the passcode e-mail`);
    pages.codeMail = codeMail;
    const code = mail.passcode(codeMail, `${label}: the passcode e-mail`);
    if (wrongCodeFirst) {
      const wrong = code === '000000' ? '111111' : '000000';
      facts = await submit(page, { fields: { code: wrong }, label: `${label}: after a wrong code`, opts: { email } });
      checkEqual(facts.step, 'code', `${label}: a wrong code keeps the code step`);
      expect(facts.alerts.length > 0, `${label}: a wrong code is refused with a message (role=alert): ${JSON.stringify(facts.alerts)}`);
      pages.codeError = facts;
    }
    facts = await submit(page, { fields: { code }, label: `${label}: after the code`, opts: { email, passwordKind: 'new' } });
    checkEqual(facts.step, 'password', `${label}: after the code, the optional password step (step)`);
    pages.password = facts;
    if (password) facts = await submit(page, { fields: { password }, label: `${label}: after setting a password`, opts: { email } });
    else facts = await submit(page, { button: { name: 'action', value: 'skip_password' }, label: `${label}: after Skip`, opts: { email } });
    checkEqual(facts.step, 'consent', `${label}: then the consent page (step)`);
    pages.consent = facts;
    facts = await submit(page, { button: { name: 'decision', value: 'allow' }, label: `${label}: after consent`, opts: { email } });
    pages.landing = facts;
    return { landed: page.url(), pages };
  }

  // ------------------------------------------------------------------ helpers a journey starts
  const children = [];

  /** A free loopback port. */
  function freePort() {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
  }

  /**
   * Starts a helper the journey needs (another app, an SP, an upstream IdP) in its own process
   * group, its output in `<work>/<name>.log`, and waits until `ready` (a RegExp its output
   * matches, or a URL that answers) within `timeoutMs`. It is stopped (the whole group: TERM, then
   * KILL) when the journey ends. Returns {pid, log}.
   */
  async function spawn(name, command, args, { ready, timeoutMs = 15_000, env = {}, cwd = cfg.cli.cwd } = {}) {
    const log = join(cfg.cli.cwd, `${journey.id}-${name}.log`);
    const out = openSync(log, 'a');
    const child = spawnProcess(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', out, out], detached: true });
    children.push(child);
    run.children.add(child);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) fail(`${name} exited (status ${child.exitCode}) before it was ready`, readFileSync(log, 'utf8').slice(-1500));
      let up = false;
      if (ready instanceof RegExp) up = ready.test(readFileSync(log, 'utf8'));
      else if (typeof ready === 'string') up = await fetch(ready).then(() => true, () => false);
      else up = true;
      if (up) return { pid: child.pid, log };
      if (Date.now() > deadline) fail(`${name} was not ready within ${timeoutMs / 1000} s`, readFileSync(log, 'utf8').slice(-1500));
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function stopChildren() {
    for (const child of children.splice(0)) {
      run.children.delete(child);
      if (child.exitCode !== null) continue;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        continue;
      }
      const deadline = Date.now() + 5_000;
      while (child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  async function closeContexts() {
    for (const c of contexts.splice(0)) await c.close().catch(() => {});
    await stopChildren();
  }

  const h = {
    cfg,
    issuer,
    slug: cfg.tenant.slug,
    journey: journey.id,
    gatehouseOrigin,
    isGatehouse,
    step: (key, title, needs, body) => runStep(journey.id, key, title, needs, body),
    check,
    checkEqual,
    ok,
    fail,
    expect,
    note,
    newContext,
    checkPage,
    visit,
    submit,
    signIn,
    redeem,
    mail,
    cli,
    api,
    member,
    freePort,
    spawn,
    rp,
    apache,
    closeContexts,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    CheckFailed,
  };
  return h;
}
