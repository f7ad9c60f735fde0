//! The page report of the browser suite, written into the artifacts folder at the end of a run:
//!
//!   report.json   every audited page visit: journey, label, URL template, status, title, lang,
//!                 step, axe violations (by impact, with rule ids) and every colour-contrast figure
//!                 axe reported, in light and dark mode; the contrast of every text element
//!                 computed by the suite (lowest ratio, failing elements); the 390x844 scroll
//!                 widths; every finding; the screenshots' file names. Plus the failed checks and
//!                 the time per journey.
//!   report.md     the same in tables: one row per page template (URL template + step + lang),
//!                 one row per visit, the failed checks.

import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AXE_VERSION } from './audit.mjs';

const impacts = (c) => (c ? `${c.critical}/${c.serious}/${c.moderate}/${c.minor}` : '–');
const minOf = (values) => {
  const v = values.filter((x) => typeof x === 'number');
  return v.length ? Math.min(...v) : null;
};
const cell = (s) => String(s ?? '–').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function summarise(record) {
  const out = { light: {}, dark: {} };
  for (const scheme of ['light', 'dark']) {
    const s = record.schemes?.[scheme];
    if (!s) continue;
    out[scheme] = {
      axe: s.axe.counts,
      axeIds: s.axe.violations.map((v) => `${v.id}(${v.impact})`),
      ownMin: s.contrast.min,
      ownFailing: s.contrast.failing.length,
      axeContrastMin: minOf(s.axe.contrast.map((c) => c.ratio)),
      axeContrastFigures: s.axe.contrast.length,
    };
  }
  return out;
}

export function writeReport(cfg, { records, failures, timings, seconds, chromium }) {
  const json = join(cfg.artifacts, 'report.json');
  const md = join(cfg.artifacts, 'report.md');
  writeFileSync(json, JSON.stringify({ generated: new Date().toISOString(), axe: AXE_VERSION, chromium, seconds, timings, failures, pages: records }, null, 2));

  const lines = [];
  lines.push('# Browser conformance: page report', '');
  lines.push(`Generated ${new Date().toISOString()} · axe-core ${AXE_VERSION} · ${chromium} · ${records.length} Gatehouse page visits · ${seconds.toFixed(0)} s`, '');
  lines.push('axe columns: violations critical/serious/moderate/minor. "own min" is the lowest WCAG contrast ratio of any visible text element, computed by the suite (AA: 4.5, large text 3); "axe min" the lowest ratio among the color-contrast figures axe reported (violations, incomplete and passes). Screenshots are in screenshots/ (light, dark, 390x844).', '');

  // One row per page template.
  const groups = new Map();
  for (const r of records) {
    const key = `${r.template}${r.facts.step ? ` [${r.facts.step}]` : ''} lang=${r.facts.lang}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  lines.push('## Per page template', '');
  lines.push('| page (URL template [step]) | lang | title | visits | axe light | axe dark | own min light | own min dark | axe min light | axe min dark | max scrollWidth @390 | failed page checks |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [key, rs] of groups) {
    const sums = rs.map(summarise);
    const worst = (scheme) => {
      const c = { critical: 0, serious: 0, moderate: 0, minor: 0 };
      for (const s of sums) for (const k of Object.keys(c)) c[k] = Math.max(c[k], s[scheme].axe?.[k] ?? 0);
      return impacts(c);
    };
    const failed = [...new Set(rs.flatMap((r) => (r.findings ?? []).filter((f) => !f.ok).map((f) => f.message.replace(/ \(.*$/, ''))))];
    lines.push(`| ${cell(key.replace(/ lang=.*$/, ''))} | ${cell(rs[0].facts.lang)} | ${cell(rs[0].facts.title)} | ${rs.length} | ${worst('light')} | ${worst('dark')} | ${cell(minOf(sums.map((s) => s.light.ownMin)))} | ${cell(minOf(sums.map((s) => s.dark.ownMin)))} | ${cell(minOf(sums.map((s) => s.light.axeContrastMin)))} | ${cell(minOf(sums.map((s) => s.dark.axeContrastMin)))} | ${Math.max(...rs.map((r) => r.mobile?.scrollWidth ?? 0))} | ${cell(failed.join('; ') || 'none')} |`);
  }
  lines.push('');

  lines.push('## Every visit', '');
  lines.push('| # | journey | label | URL template [step] | status | title | lang | axe light | axe dark | violations (light / dark) | own min light/dark | axe min light/dark | screenshot |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of records) {
    const s = summarise(r);
    lines.push(`| ${r.seq} | ${r.journey} | ${cell(r.label)} | ${cell(`${r.template}${r.facts.step ? ` [${r.facts.step}]` : ''}`)} | ${cell(r.status)} | ${cell(r.facts.title)} | ${cell(r.facts.lang)} | ${impacts(s.light.axe)} | ${impacts(s.dark.axe)} | ${cell((s.light.axeIds ?? []).join(', ') || '–')} / ${cell((s.dark.axeIds ?? []).join(', ') || '–')} | ${cell(s.light.ownMin)} / ${cell(s.dark.ownMin)} | ${cell(s.light.axeContrastMin)} / ${cell(s.dark.axeContrastMin)} | ${basename(r.schemes?.light?.screenshot ?? '')} |`);
  }
  lines.push('');

  lines.push('## Text below AA contrast (own computation)', '');
  const low = [];
  for (const r of records) {
    for (const scheme of ['light', 'dark']) {
      for (const f of r.schemes?.[scheme]?.contrast.failing ?? []) low.push(`| ${cell(r.template)}${r.facts.step ? ` [${r.facts.step}]` : ''} | ${scheme} | ${f.ratio} | ${f.required} | ${cell(f.element)} | ${cell(f.text)} | ${f.fg} on ${f.bg} |`);
    }
  }
  const uniqueLow = [...new Set(low)];
  if (uniqueLow.length) {
    lines.push('| page | scheme | ratio | required | element | text | colours |', '|---|---|---|---|---|---|---|', ...uniqueLow);
  } else {
    lines.push('None.');
  }
  lines.push('');

  lines.push(`## Failed checks (${failures.length})`, '');
  if (failures.length) for (const f of failures) lines.push(`- **${cell(f.journey)}** — ${cell(f.message.split('\n')[0])}`);
  else lines.push('None.');
  lines.push('');
  lines.push('## Time per journey', '');
  for (const t of timings) lines.push(`- ${t.journey}: ${t.seconds.toFixed(1)} s (${t.failed} failed checks)`);
  lines.push('');
  writeFileSync(md, lines.join('\n'));
  return { json, md };
}
