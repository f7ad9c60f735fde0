"""The checks and the report of the federation SAML journey (journey.py), in the shape of
conformance/lib/checks.mjs: every check prints one line, `  ok   <message>` when it holds; when it
does not, it raises CheckFailed with `[<step>] <message>` and the detail. Steps are groups of
checks that end at their first failure; a step whose prerequisites did not pass is reported as
NOT RUN. Both count as one failure each. The run ends with the per-step summary and the line
`N passed, M failed`.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

passed = 0
failed = 0
current_step = "(setup)"
_outcomes: dict[str, str] = {}
_summary: list[str] = []


class CheckFailed(Exception):
    pass


def _show(value) -> str:
    shown = json.dumps(value, default=str, ensure_ascii=False)
    return shown if len(shown) <= 100 else shown[:97] + "..."


def ok(message: str) -> None:
    global passed
    passed += 1
    print(f"  ok   {message}", flush=True)


def note(message: str) -> None:
    print(f"  ..   {message}", flush=True)


def fail(message: str, detail=None):
    text = f"[{current_step}] {message}"
    if detail is not None:
        text += "\n       detail: " + (detail if isinstance(detail, str)
                                     else json.dumps(detail, indent=2, default=str, ensure_ascii=False))
    raise CheckFailed(text)


def check(condition, message: str, detail=None) -> None:
    if not condition:
        fail(message, detail)
    ok(message)


def check_equal(actual, expected, message: str) -> None:
    if actual != expected:
        fail(message, {"expected": expected, "actual": actual})
    ok(f"{message} ({_show(actual)})")


def step(key: str, title: str, needs: list[str], body) -> bool:
    """Runs one step; returns whether it passed."""
    global current_step, failed
    current_step = title
    print(f"\n== {title}", flush=True)
    missing = [n for n in needs if _outcomes.get(n) != "pass"]
    if missing:
        failed += 1
        _outcomes[key] = "skip"
        line = f"NOT RUN  {title} (needs: {', '.join(missing)})"
        print(f"  FAIL {line}", flush=True)
        _summary.append(line)
        return False
    before = passed
    try:
        body()
    except CheckFailed as err:
        failed += 1
        _outcomes[key] = "fail"
        print(f"  FAIL {err}", flush=True)
        _summary.append(f"FAIL     {title} (after {passed - before} checks passed)")
        return False
    except Exception as err:  # noqa: BLE001 - reported as the step's failure
        failed += 1
        _outcomes[key] = "fail"
        print(f"  FAIL [{title}] unexpected error: {type(err).__name__}: {err}", flush=True)
        traceback.print_exc(file=sys.stdout)
        _summary.append(f"FAIL     {title} (after {passed - before} checks passed)")
        return False
    _outcomes[key] = "pass"
    _summary.append(f"PASS     {title} ({passed - before} checks)")
    return True


def run_journey(name: str, main, cleanup) -> None:
    """Runs main(), then cleanup(); prints the summary and `N passed, M failed`; exits 0 only if
    nothing failed."""
    global failed
    started = time.time()
    try:
        main()
    except Exception as err:  # noqa: BLE001
        failed += 1
        print(f"\nFAIL [{current_step}] unexpected error: {type(err).__name__}: {err}", flush=True)
        traceback.print_exc(file=sys.stdout)
    finally:
        cleanup()
    print(f"\n{name} journey summary ({time.time() - started:.1f} s):")
    for line in _summary:
        print(f"  {line}")
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)
