//! The checks and the report of the Node conformance peers (conformance/oidc/openid-client/rp.mjs,
//! conformance/invite/node/journey.mjs, conformance/mfa/node/journey.mjs).
//!
//! Plain Node, no npm dependencies; imported by relative path. Every check prints one line,
//! `  ok   <message>` when it holds; when it does not, it throws CheckFailed with
//! `[<step>] <message>` and the detail. The tally (checks passed, steps failed, the current step)
//! lives in `tally`. The journeys run their steps with `step` and end with `runJourney`, which
//! prints the per-step summary and the last line `N passed, M failed`; rp.mjs stops at the first
//! failure and prints its own ending.

import { readFileSync } from 'node:fs';

export const tally = { passed: 0, failed: 0, step: '(setup)' };
export class CheckFailed extends Error {}

/** The peer's CONFIG.json (argv[2] or $CONFORMANCE_CONFIG, written by run.sh); exits 2 without one. */
export function readConfig(script) {
  const configPath = process.argv[2] ?? process.env.CONFORMANCE_CONFIG;
  if (!configPath) {
    console.error(`usage: node ${script} CONFIG.json`);
    process.exit(2);
  }
  return JSON.parse(readFileSync(configPath, 'utf8'));
}

export function ok(message) {
  tally.passed += 1;
  console.log(`  ok   ${message}`);
}
export function fail(message, detail) {
  let text = `[${tally.step}] ${message}`;
  if (detail !== undefined) {
    text += `\n       detail: ${typeof detail === 'string' ? detail : JSON.stringify(detail, null, 2)}`;
  }
  throw new CheckFailed(text);
}
export function check(condition, message, detail) {
  if (!condition) fail(message, detail);
  ok(message);
}
export function checkEqual(actual, expected, message) {
  if (actual !== expected) fail(message, { expected, actual });
  ok(`${message} (${JSON.stringify(actual)})`);
}
/** An error as plain JSON: name, code, message, and the OAuth error fields when there are any. */
export function describe(err) {
  if (!err) return String(err);
  const out = { name: err.name, code: err.code, message: err.message };
  if (err.error) out.error = err.error;
  if (err.error_description) out.error_description = err.error_description;
  if (err.status) out.status = err.status;
  if (err.cause) out.cause = typeof err.cause === 'object' && !(err.cause instanceof Error) ? err.cause : String(err.cause);
  return out;
}

// ------------------------------------------------------------------------ the steps of a journey
const outcomes = new Map(); // step key -> 'pass' | 'fail' | 'skip'
const summary = [];

/**
 * Runs one step of a journey: a group of checks that ends at its first failure. `needs` names
 * earlier steps that must have passed; without them the step is reported as not run. A step
 * that fails or does not run counts as one failure.
 */
export async function step(key, title, needs, body) {
  tally.step = title;
  console.log(`\n== ${title}`);
  const missing = needs.filter((n) => outcomes.get(n) !== 'pass');
  if (missing.length > 0) {
    tally.failed += 1;
    outcomes.set(key, 'skip');
    const line = `NOT RUN  ${title} (needs: ${missing.join(', ')})`;
    console.log(`  FAIL ${line}`);
    summary.push(line);
    return;
  }
  const before = tally.passed;
  try {
    await body();
    outcomes.set(key, 'pass');
    summary.push(`PASS     ${title} (${tally.passed - before} checks)`);
  } catch (err) {
    tally.failed += 1;
    outcomes.set(key, 'fail');
    if (err instanceof CheckFailed) {
      console.log(`  FAIL ${err.message}`);
    } else {
      console.log(`  FAIL [${title}] unexpected error: ${JSON.stringify(describe(err), null, 2)}`);
      if (err?.stack) console.log(err.stack);
    }
    summary.push(`FAIL     ${title} (after ${tally.passed - before} checks passed)`);
  }
}

/**
 * Runs a journey's `main`, then `cleanup`, prints "<name> journey summary", the line of each step
 * and `N passed, M failed`, and exits: 0 only if nothing failed.
 */
export async function runJourney(name, main, cleanup) {
  const started = Date.now();
  try {
    await main();
  } catch (err) {
    tally.failed += 1;
    console.log(`\nFAIL [${tally.step}] unexpected error: ${JSON.stringify(describe(err))}`);
    if (err?.stack) console.log(err.stack);
  } finally {
    cleanup();
  }
  console.log(`\n${name} journey summary (${((Date.now() - started) / 1000).toFixed(1)} s):`);
  for (const line of summary) console.log(`  ${line}`);
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  process.exit(tally.failed === 0 ? 0 : 1);
}
