# Helpers for the end-to-end tests: sourced by each test script.
# Usage in a test: source lib.sh; then check / expect_fail / finish.
set -u
TS=${TS:?path to the timeshard binary}
SRC=${SRC:?source tree}
TINY=$SRC/tests/fixtures/tiny.h5
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=${MPIRUN:-mpirun}
WORK=$(mktemp -d /tmp/ts-e2e.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILS=0
PROMPT="a red circle moving left on a blue background"

verdict() {  # name ok detail
    if [ "$2" = 1 ]; then printf '  %-44s OK     %s\n' "$1" "${3:-}"; else
        printf '  %-44s FAIL   %s\n' "$1" "${3:-}"; FAILS=$((FAILS + 1)); fi
}

# expect_fail NAME OUTFILE CMD...: the command must exit non-zero, print a
# "timeshard: error:" line and a "---> HINT:" line, and leave nothing at OUTFILE
# (or "-" for none).
expect_fail() {
    local name=$1 out=$2; shift 2
    local log=$WORK/err.log rc=0
    timeout 60 "$@" > "$log" 2>&1 || rc=$?
    local nerr; nerr=$(grep -c '^timeshard: error:' "$log" || true)
    local ok=1 why="rc=$rc"
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { ok=0; why="$why (expected a non-zero exit without timeout)"; }
    [ "$nerr" -ge 1 ] || { ok=0; why="$why, no error line"; }
    grep -q '^---> HINT: .' "$log" || { ok=0; why="$why, no hint line"; }
    grep -q -E 'Segmentation|core dumped|Assertion|internal error|AddressSanitizer|runtime error' "$log" && { ok=0; why="$why, crashed"; }
    if [ "$out" != - ] && [ -e "$out" ]; then ok=0; why="$why, left $out"; fi
    verdict "$name" $ok "$why: $(grep -m1 '^timeshard: error:' "$log" | cut -c1-110)"
    [ $ok = 1 ] || sed 's/^/      | /' "$log" | head -20
}

finish() {
    if [ "$FAILS" = 0 ]; then echo PASSED; exit 0; else echo "FAILED ($FAILS)"; exit 1; fi
}
