# lib.sh - TAP helpers for the integration tests (*.int).
# Sourced by each test; MMDX_BUILDDIR/MMDX_SRCDIR/MMDX_SHARED_DATA come from
# the test environment (Makefile.am).
: "${MMDX_BUILDDIR:=$(pwd)}"
: "${MMDX_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MMDX_SHARED_DATA:=$MMDX_SRCDIR/../shared/data}"
MMDX="${MMDX_CHECKER:-} $MMDX_BUILDDIR/mmdx"
export MMDX_DATADIR="$MMDX_SRCDIR"
# run in a Slurm array job, `mmdx run` would shard by its task: the tests
# say which shard they want
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX \
    SLURM_ARRAY_TASK_STEP SLURM_ARRAY_TASK_COUNT
T_N=0
T_FAIL=0
T_TMP=$(mktemp -d /tmp/mmdx-int-XXXXXX)
trap 'rm -rf "$T_TMP"' EXIT

ok() {
    T_N=$((T_N + 1))
    echo "ok $T_N - $1"
}

not_ok() {
    T_N=$((T_N + 1))
    T_FAIL=$((T_FAIL + 1))
    echo "not ok $T_N - $1"
    shift
    for line in "$@"; do echo "# $line"; done
}

skip_test() {
    T_N=$((T_N + 1))
    echo "ok $T_N - $1 # SKIP $2"
}

# check NAME CMD...: pass when CMD exits 0
check() {
    name=$1
    shift
    if "$@" >"$T_TMP/out" 2>"$T_TMP/err"; then
        ok "$name"
    else
        not_ok "$name" "command: $*" "$(head -c 2000 "$T_TMP/err")"
    fi
}

# expect_exit NAME CODE CMD...: pass when CMD exits with CODE
expect_exit() {
    name=$1
    code=$2
    shift 2
    "$@" >"$T_TMP/out" 2>"$T_TMP/err"
    rc=$?
    if [ "$rc" -eq "$code" ]; then
        ok "$name"
    else
        not_ok "$name" "command: $*" "exit $rc, want $code" \
            "$(head -c 2000 "$T_TMP/err")"
    fi
}

# grep_out NAME PATTERN FILE: pass when FILE matches the extended regex
grep_in() {
    if grep -Eq -- "$2" "$3"; then
        ok "$1"
    else
        not_ok "$1" "no match for /$2/ in $3:" "$(head -c 1500 "$3")"
    fi
}

done_testing() {
    echo "1..$T_N"
    [ "$T_FAIL" -eq 0 ]
}
