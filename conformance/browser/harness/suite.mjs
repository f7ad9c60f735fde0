//! The browser suite's entry point: launches Debian's Chromium through playwright-core, runs every
//! journey in ../journeys/ (file-name order; the config's `only` picks some), then writes the page
//! report and prints the summary.
//!
//! Usage: node suite.mjs CONFIG.json   (written by ../run.sh)
//!
//! A journey is a file ../journeys/NAME.mjs exporting `title` (a line) and
//! `async function run(h)` (h: ./harness.mjs). Adding a journey is adding a file: nothing here or
//! in the other journeys names it. A journey makes what it needs (users, invitations, policies)
//! with h.cli / h.api and opens its own browser contexts, so it depends on no other journey. An
//! exception that escapes a journey counts as one failure and the next journey still runs.
//!
//! Chromium is launched once, from CONFIG.chromium (/usr/bin/chromium), never downloaded; each
//! journey's h.newContext is a fresh, isolated context (its own cookies and storage) in it, and
//! the browser's profile is a fresh temporary user-data-dir playwright-core makes and removes.
//! Then a line per step (PASS, FAIL, NOT RUN) and the last line "N passed, M failed" (checks);
//! exit status 0 only if nothing failed. The checks come from ../../lib/checks.mjs (ok, check…);
//! the steps and the summary are the harness's own (soft checks let a step go on).

import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, readConfig, tally } from '../../lib/checks.mjs';
import { makeHarness, run } from './harness.mjs';
import { writeReport } from './report.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const JOURNEYS = join(HERE, '..', 'journeys');
const CFG = readConfig('suite.mjs');

/** Chromium's flags: headless, and quiet on this closed network (no background fetches). */
const CHROMIUM_ARGS = [
  '--no-sandbox', // the suite runs as root
  '--headless=new',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function main() {
  mkdirSync(join(CFG.artifacts, 'screenshots'), { recursive: true });
  const files = readdirSync(JOURNEYS).filter((f) => f.endsWith('.mjs')).sort();
  const chosen = files.filter((f) => CFG.only.length === 0 || CFG.only.includes(f.replace(/\.mjs$/, '')));
  const started = Date.now();
  const browser = await chromium.launch({ executablePath: CFG.chromium, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
  console.log(`Chromium ${browser.version()} (${CFG.chromium}) via playwright-core; journeys: ${chosen.map((f) => f.replace(/\.mjs$/, '')).join(', ')}`);
  const timings = [];
  try {
    for (const file of chosen) {
      const id = file.replace(/\.mjs$/, '');
      const mod = await import(pathToFileURL(join(JOURNEYS, file)).href);
      console.log(`\n######## journey ${id}: ${mod.title ?? ''}`);
      const h = makeHarness(CFG, browser, { id, title: mod.title });
      const t0 = Date.now();
      const failedBefore = tally.failed;
      try {
        await mod.run(h);
      } catch (err) {
        tally.failed += 1;
        console.log(`  FAIL [${id}] the journey stopped on an unexpected error: ${JSON.stringify(describe(err))}`);
        if (err?.stack) console.log(err.stack);
        run.failures.push({ journey: id, step: '(journey)', message: `unexpected error: ${err?.message}` });
      } finally {
        await h.closeContexts();
      }
      timings.push({ journey: id, seconds: (Date.now() - t0) / 1000, failed: tally.failed - failedBefore });
    }
  } finally {
    await browser.close().catch(() => {});
    const written = writeReport(CFG, { records: run.records, failures: run.failures, timings, seconds: (Date.now() - started) / 1000, chromium: CFG.chromium });
    console.log(`\npage report: ${written.md} (${run.records.length} Gatehouse pages audited)`);
    if (run.failures.length) {
      // One line per distinct failed check (the same page check on the same page template once,
      // with how many times it failed): the to-do list.
      const lines = new Map();
      for (const f of run.failures) {
        const key = f.group ?? f.message;
        const entry = lines.get(key) ?? { journeys: new Set(), count: 0, message: f.message.split('\n')[0] };
        entry.journeys.add(f.journey);
        entry.count += 1;
        lines.set(key, entry);
      }
      console.log(`\nfailed checks: ${run.failures.length}, ${lines.size} distinct:`);
      for (const [key, e] of lines) {
        const what = key.includes(' :: ') ? `${key.split(' :: ')[0]}: ${e.message.replace(/^.* — [^:]*\]?: /, '')}` : e.message;
        console.log(`  - [${[...e.journeys].join(', ')}]${e.count > 1 ? ` ×${e.count}` : ''} ${what}`);
      }
    }
    for (const t of timings) console.log(`  journey ${t.journey}: ${t.seconds.toFixed(1)} s, ${t.failed} failed`);
  }
}

// Helpers journeys started (h.spawn) live in their own process groups: never leave one behind,
// even when the run is stopped (CONFORMANCE_TIMEOUT, Ctrl-C).
process.on('exit', () => {
  for (const child of run.children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(130));

const started = Date.now();
try {
  await main();
} catch (err) {
  tally.failed += 1;
  console.log(`\nFAIL [${tally.step}] unexpected error: ${JSON.stringify(describe(err))}`);
  if (err?.stack) console.log(err.stack);
}
console.log(`\nbrowser journey summary (${((Date.now() - started) / 1000).toFixed(1)} s):`);
for (const line of run.summary) console.log(`  ${line}`);
console.log(`${tally.passed} passed, ${tally.failed} failed`);
process.exit(tally.failed === 0 ? 0 : 1);
