#!/usr/bin/env bash
# The README's test command: installs what is missing (scripts/setup.sh), runs the quality
# checks (`deno task check`: fmt, lint, type check) and the whole test suite, and ends with one
# line `N passed, N failed` counted from the real test run (plus 1 failed if the checks failed).
# Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1

if ! bash scripts/setup.sh; then
  echo "setup failed"
  echo "0 passed, 1 failed"
  exit 1
fi

check_failed=0
echo "== deno task check" >&2
if ! deno task -q check; then
  echo "deno task check FAILED" >&2
  check_failed=1
fi

echo "== deno task test" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The tests mostly wait on real servers (registries, logs, latency proxies), so test files run
# four at a time: the suite is latency-bound, not CPU-bound, on this 2-core machine.
DENO_JOBS=${DENO_JOBS:-4} deno task -q test --parallel "$@" 2>&1 | tee "$log"
test_rc=${PIPESTATUS[0]}

summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1)
if [ -z "$summary" ]; then
  echo "no test summary found (deno test exited $test_rc)" >&2
  passed=0
  failed=1
else
  passed=$(sed -E 's/^[A-Z]+ \| ([0-9]+) passed.*/\1/i' <<<"$summary")
  failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
fi
ignored=$(grep -oE '\| [0-9]+ ignored' <<<"$summary" | grep -oE '[0-9]+' || true)
[ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
failed=$((failed + check_failed))
[ "$check_failed" -eq 1 ] && echo "(deno task check failed: counted as 1 failure)"
if [ -n "$ignored" ] && [ "$ignored" -gt 0 ]; then
  echo "$passed passed, $failed failed, $ignored skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
