//! What the browser suite checks on every Gatehouse page the browser lands on (`auditPage`), and
//! the facts it reads from a page for the journeys (`pageFacts`).
//!
//! For each page, in this order (focus first, before anything else touches the page):
//!   1. facts: URL, status, <title>, <html lang>, the journey step (the form's hidden `step`),
//!      the <h1>, the visible text of <main>, [role=alert] texts, the form fields;
//!   2. forms: the first field of the step has focus on load (document.activeElement); every
//!      visible field has a <label> (or aria-labelledby); autocomplete is right (username on the
//!      e-mail field, current-password / new-password on password fields, one-time-code on code
//!      fields); a page with a current-password field carries a hidden username field whose value
//!      is the address (password managers pair them), and so does a set-password page;
//!   3. light mode: a full-page screenshot, axe-core (zero serious and critical violations), the
//!      contrast of every text element computed here with the WCAG formula (AA: 4.5:1, large
//!      text 3:1), and every contrast figure axe reports;
//!   4. dark mode (page.emulateMedia({colorScheme: 'dark'})): the same;
//!   5. a 390x844 viewport: no horizontal scroll (scrollWidth <= clientWidth), a screenshot.
//!
//! axe-core goes in with page.evaluate of axe.min.js's source: Gatehouse pages send
//! `script-src 'none'`, which blocks page.addScriptTag (an inline <script>), while evaluate runs
//! through the DevTools protocol, which the page's CSP does not govern. bypassCSP is never set, so
//! the pages are checked under their real policy.
//!
//! Results go to the caller as a record (the report) and a list of {ok, message, detail}
//! findings the harness counts as checks.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const AXE_VERSION = JSON.parse(readFileSync(require.resolve('axe-core/package.json'), 'utf8')).version;

export const DESKTOP = { width: 1280, height: 800 };
export const MOBILE = { width: 390, height: 844 };

/** The facts of the page as a person's browser shows it (runs in the page). */
function readFacts() {
  const visible = (el) => {
    if (el.type === 'hidden') return false;
    if (typeof el.checkVisibility === 'function' && !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const text = (el) => (el?.innerText ?? el?.textContent ?? '').replace(/\s+/g, ' ').trim();
  const describe = (el) => (el ? `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.name ? `[name=${el.name}]` : ''}` : null);
  const fields = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    const type = (el.getAttribute('type') ?? (el.tagName === 'INPUT' ? 'text' : el.tagName.toLowerCase())).toLowerCase();
    if (['submit', 'button', 'reset', 'image'].includes(type)) continue;
    const labelledBy = (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).filter(Boolean).map((id) => text(document.getElementById(id))).join(' ');
    const labels = [...(el.labels ?? [])].map(text).filter(Boolean);
    fields.push({
      describe: describe(el),
      tag: el.tagName.toLowerCase(),
      type,
      name: el.getAttribute('name'),
      id: el.id || null,
      autocomplete: el.getAttribute('autocomplete'),
      inputmode: el.getAttribute('inputmode'),
      value: type === 'hidden' || /username/.test(el.getAttribute('autocomplete') ?? '') ? el.value : undefined,
      visible: visible(el),
      label: labels.join(' / ') || labelledBy || null,
      formIndex: el.form ? [...document.forms].indexOf(el.form) : -1,
      focused: document.activeElement === el,
    });
  }
  const firstVisible = fields.find((f) => f.visible && f.type !== 'hidden') ?? null;
  const stepInput = document.querySelector('form input[type=hidden][name=step]');
  const main = document.querySelector('main') ?? document.body;
  return {
    url: location.href,
    title: document.title,
    lang: document.documentElement.getAttribute('lang'),
    step: stepInput ? stepInput.value : null,
    h1: text(document.querySelector('h1')) || null,
    text: text(main),
    alerts: [...document.querySelectorAll('[role=alert]')].map(text).filter(Boolean),
    fields,
    firstVisible: firstVisible ? firstVisible.describe : null,
    active: describe(document.activeElement === document.body ? null : document.activeElement),
    forms: document.forms.length,
  };
}

/**
 * The WCAG 2 contrast of every visible text element against its effective background (runs in
 * the page). Backgrounds are composited up the ancestor chain (alpha blended) onto the canvas;
 * the text colour is blended onto that. Large text: at least 24px, or 18.66px and bold.
 */
function measureContrast(canvasDark) {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
  };
  const lum = (c) => {
    const ch = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => {
    const [l1, l2] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
  };
  const canvas = canvasDark ? [18, 18, 18, 1] : [255, 255, 255, 1];
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let bg = canvas;
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  const hex = (c) => `#${c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
  const items = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'SVG', 'svg', 'TITLE', 'NOSCRIPT'].includes(el.tagName) || el.closest('svg')) continue;
    const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim()).join(' ');
    if (!own) continue;
    if (typeof el.checkVisibility === 'function' && !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) continue;
    const style = getComputedStyle(el);
    const bg = background(el);
    const fgRaw = parse(style.color) ?? [0, 0, 0, 1];
    const fg = over(fgRaw, bg);
    const size = parseFloat(style.fontSize);
    const weight = Number(style.fontWeight) || (style.fontWeight === 'bold' ? 700 : 400);
    const large = size >= 24 || (size >= 18.66 && weight >= 700);
    const r = ratio(fg, bg);
    items.push({
      text: own.slice(0, 60),
      element: `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`,
      fg: hex(fg),
      bg: hex(bg),
      ratio: Math.round(r * 100) / 100,
      large,
      required: large ? 3 : 4.5,
      pass: r >= (large ? 3 : 4.5) - 0.005,
    });
  }
  return items;
}

async function runAxe(page) {
  const present = await page.evaluate(() => typeof window.axe === 'object').catch(() => false);
  if (!present) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations', 'incomplete', 'passes'] });
    const contrast = [];
    for (const [kind, list] of [['violation', r.violations], ['incomplete', r.incomplete], ['pass', r.passes]]) {
      for (const rule of list.filter((x) => x.id === 'color-contrast' || x.id === 'color-contrast-enhanced')) {
        for (const node of rule.nodes) {
          const data = [...node.any, ...node.all, ...node.none].map((c) => c.data).find((d) => d && typeof d === 'object' && 'contrastRatio' in d);
          contrast.push({
            rule: rule.id,
            result: kind,
            target: node.target.join(' '),
            ratio: data?.contrastRatio ?? null,
            expected: data?.expectedContrastRatio ?? null,
            fg: data?.fgColor ?? null,
            bg: data?.bgColor ?? null,
            fontSize: data?.fontSize ?? null,
            fontWeight: data?.fontWeight ?? null,
            why: kind === 'incomplete' ? (node.any[0]?.message ?? null) : undefined,
          });
        }
      }
    }
    return {
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')), summary: v.nodes[0]?.failureSummary?.slice(0, 400) })),
      contrast,
    };
  });
  const counts = { critical: 0, serious: 0, moderate: 0, minor: 0 };
  for (const v of result.violations) counts[v.impact ?? 'minor'] += 1;
  return { counts, ...result };
}

/** One colour scheme: screenshot, axe, own contrast. */
async function scheme(page, name, file) {
  await page.emulateMedia({ colorScheme: name });
  await page.screenshot({ path: file, fullPage: true });
  const axe = await runAxe(page);
  const contrast = await page.evaluate(measureContrast, name === 'dark');
  const min = contrast.length ? Math.min(...contrast.map((c) => c.ratio)) : null;
  return { axe, contrast: { min, failing: contrast.filter((c) => !c.pass), items: contrast.length }, screenshot: file };
}

function tokens(autocomplete) {
  return (autocomplete ?? '').toLowerCase().split(/\s+/).filter(Boolean);
}

/**
 * The form checks of one page's facts. `opts.email` is the address a password page must carry in
 * its hidden username field; `opts.passwordKind` says whether a password field signs in
 * ('current') or sets a password ('new').
 */
function formFindings(facts, opts) {
  const out = [];
  const add = (id, ok, message, detail) => out.push({ id, ok, message, detail });
  const visible = facts.fields.filter((f) => f.visible);
  if (visible.length === 0) return out;
  add('focus', facts.active === facts.firstVisible, `the first field (${facts.firstVisible}) has focus on load`, { activeElement: facts.active, first: facts.firstVisible });
  for (const f of visible) add('label', Boolean(f.label), `${f.describe} has a label${f.label ? ` ("${f.label}")` : ''}`, f);
  for (const f of visible) {
    const t = tokens(f.autocomplete);
    if (f.type === 'email' || f.name === 'email') add('autocomplete-email', t.includes('username'), `the e-mail field ${f.describe} has autocomplete="username" (has ${JSON.stringify(f.autocomplete)})`, f);
    if (f.type === 'password') {
      const want = opts.passwordKind === 'new' ? 'new-password' : 'current-password';
      add('autocomplete-password', t.includes(want), `the password field ${f.describe} has autocomplete="${want}" (has ${JSON.stringify(f.autocomplete)})`, f);
    }
    if (f.type !== 'password' && (f.name === 'code' || /code/.test(f.name ?? '') || f.inputmode === 'numeric')) {
      add('autocomplete-code', t.includes('one-time-code'), `the code field ${f.describe} has autocomplete="one-time-code" (has ${JSON.stringify(f.autocomplete)})`, f);
    }
  }
  const password = visible.find((f) => f.type === 'password');
  if (password) {
    // Chromium's password manager reads no <input type="hidden">: the username has to be a
    // text or e-mail input that is not shown (the hidden attribute, display: none).
    const kind = opts.passwordKind === 'new' ? 'the set-password page' : 'the password page';
    const candidates = facts.fields.filter((f) => f.formIndex === password.formIndex && !f.visible && tokens(f.autocomplete).includes('username'));
    const username = candidates.find((f) => f.type !== 'hidden') ?? candidates[0];
    const want = opts.email?.toLowerCase();
    const value = username?.value?.toLowerCase();
    const fine = Boolean(username) && username.type !== 'hidden' && (want ? value === want : Boolean(value));
    add('hidden-username', fine,
      `${kind} carries a hidden username field (autocomplete="username", value ${want ? `"${opts.email}"` : 'the address'}, a text/email input that is not shown: password managers ignore type=hidden)`,
      { found: username ?? null, fieldsOfTheForm: facts.fields.filter((f) => f.formIndex === password.formIndex).map((f) => ({ field: f.describe, type: f.type, autocomplete: f.autocomplete, visible: f.visible })) });
  }
  return out;
}

/**
 * Audits the page the browser is on. `shot` is the file stem for the screenshots (in `dir`).
 * Returns {facts, record, findings}.
 */
export async function auditPage(page, { dir, shot, opts = {} }) {
  // Chromium moves the focus to an autofocus field at the first rendering update after the
  // load, not at the load event: read the page after two animation frames, as a person sees it.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  const facts = await page.evaluate(readFacts);
  const findings = formFindings(facts, opts);
  const record = { facts: { ...facts, text: facts.text.slice(0, 2000) }, schemes: {} };
  try {
    for (const name of ['light', 'dark']) {
      record.schemes[name] = await scheme(page, name, join(dir, `${shot}-${name}.png`));
      const axe = record.schemes[name].axe;
      const bad = axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      findings.push({
        id: `axe-${name}`,
        ok: bad.length === 0,
        message: `axe-core, ${name} mode: no serious or critical violations (critical ${axe.counts.critical}, serious ${axe.counts.serious}, moderate ${axe.counts.moderate}, minor ${axe.counts.minor})`,
        detail: bad.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes, targets: v.targets, summary: v.summary })),
      });
      const c = record.schemes[name].contrast;
      findings.push({
        id: `contrast-${name}`,
        ok: c.failing.length === 0,
        message: `text contrast, ${name} mode, WCAG formula over ${c.items} text elements: all at least AA (4.5:1, large 3:1; lowest ${c.min ?? 'n/a'}:1)`,
        detail: c.failing.map((f) => `${f.ratio}:1 < ${f.required}:1  ${f.element} "${f.text}" (${f.fg} on ${f.bg})`),
      });
    }
  } finally {
    await page.emulateMedia({ colorScheme: 'light' });
  }
  await page.setViewportSize(MOBILE);
  try {
    const m = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
    const file = join(dir, `${shot}-390x844.png`);
    await page.screenshot({ path: file, fullPage: true });
    record.mobile = { ...m, screenshot: file };
    findings.push({ id: 'mobile', ok: m.scrollWidth <= m.clientWidth, message: `390x844 viewport: no horizontal scroll (scrollWidth ${m.scrollWidth} <= clientWidth ${m.clientWidth})` });
  } finally {
    await page.setViewportSize(DESKTOP);
  }
  record.findings = findings;
  return { facts, record, findings };
}

/** The facts alone (no screenshots, no checks): for pages that are not Gatehouse's. */
export async function pageFacts(page) {
  return page.evaluate(readFacts);
}
