#!/usr/bin/env bash
# The whole test suite, as CI runs it (README, second command):
#   0. the layer check (scripts/check_layers.sh);
#   1. install missing Debian packages, build with -Werror, run ctest;
#   2. rebuild with AddressSanitizer + UndefinedBehaviorSanitizer, run ctest;
#   3. the Node-driven tests, on both builds, when Node.js is present: the
#      Sparkplug B edge node (Eclipse Tahu from npm, a real mosquitto) and
#      InfluxDB's JavaScript client writing line protocol;
#   4. build the libFuzzer targets with clang and run each briefly;
#   5. the Grafana plugin's tests, when Node.js is present;
#   6. the Debian package built, installed, run and purged (root only).
# Each stage prints ctest's summary; the script fails if any stage fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests talk to servers on 127.0.0.1 and [::1] only; a proxy set for
# the machine (the CLI honours http_proxy through libcurl) must not see them.
export no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"
# the tests' own: promtool (Debian's prometheus package) checks the /metrics page
# chromium: the trend viewer's browser test (tools/viewer/test.sh)
HIST_DEPS_EXTRA="${HIST_DEPS_EXTRA:-} prometheus chromium" ./scripts/deps.sh
jobs=$(nproc)
status=0

stage() { echo; echo "=== $*"; }

stage "layers (scripts/check_layers.sh: doors, no .c includes, files <= 1,000 lines, names, one-way calls)"
./scripts/check_layers.sh || status=1

stage "build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHIST_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
stage "tests"
(cd build && ctest --output-on-failure -j"$jobs") || status=1

stage "build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHIST_SANITIZE=ON -DHIST_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
stage "tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j"$jobs" -LE slow) || status=1

stage "Sparkplug B edge node (Eclipse Tahu from npm) through mosquitto, into historiand and under ASan + UBSan"
# tests/mqtt/tahu/test.sh skips (exit 0, says why) without Node.js or mosquitto
./tests/mqtt/tahu/test.sh build/tools || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./tests/mqtt/tahu/test.sh build-asan/tools || status=1
stage "InfluxDB's JavaScript client (npm) writing line protocol, on both builds"
./tests/e2e/influx-client/test.sh build/tools || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./tests/e2e/influx-client/test.sh build-asan/tools || status=1

if [ -d tests/fuzz ]; then
    stage "fuzz (libFuzzer, clang)"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DHIST_FUZZ=ON -DHIST_BENCH=OFF >/dev/null
    cmake --build build-fuzz -j"$jobs" --target fuzzers
    # Each fuzzer runs 20 s on one core: two at a time on the two cores
    # (one at a time took 319 s of the 20-minute budget).
    (cd build-fuzz && ctest --output-on-failure -j"$jobs" -L fuzz) || status=1
fi

if [ -f tools/grafana-datasource/package.json ]; then
    stage "Grafana plugin"
    if command -v npm >/dev/null 2>&1; then
        ./tools/grafana-datasource/test.sh || status=1
    else
        echo "skipped: Node.js/npm not installed; the plugin's tests need it"
    fi
fi
if [ -f tools/viewer/package.json ]; then
    stage "trend viewer (tools/viewer/test.sh: dist/ matches src/, Chromium against historiand)"
    ./tools/viewer/test.sh || status=1
fi
stage "Debian package (tests/packaging/test_deb.sh: build, lintian, install, run as historian, remove, purge)"
rc=0
bash tests/packaging/test_deb.sh || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 77 ] || status=1 # 77: skipped (not root, no dpkg), and it says so
exit $status
