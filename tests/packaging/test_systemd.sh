#!/usr/bin/env bash
# test_systemd.sh BUILD_DIR: the systemd unit as installed passes
# `systemd-analyze verify` (with ExecStart= pointing at the built
# historiand, since verify checks that the program exists, and the
# installed man pages on MANPATH for Documentation=man:...), and
# `systemd-analyze security` rates its exposure 2.0 or lower (printed).
# Skips (exit 77) when systemd-analyze is absent.
set -euo pipefail
# a command that fails outside a check says where, instead of a silent exit
trap 'echo "FAIL: $0:$LINENO: \"$BASH_COMMAND\" exited $?"' ERR
build=$1
if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze not installed (Debian package systemd)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
unit=$tmp/prefix/lib/systemd/system/historiand.service
[ -f "$unit" ] || { echo "FAIL: no unit installed at $unit"; exit 1; }
grep -q '^ExecStart=[^ ]*/historiand --config /etc/historian/historiand.conf --data /var/lib/historian$' "$unit" ||
    { echo "FAIL: unexpected ExecStart= in $unit"; grep ExecStart "$unit"; exit 1; }
mkdir -p "$tmp/units"
sed "s#^ExecStart=[^ ]*/historiand #ExecStart=$tmp/prefix/bin/historiand #" "$unit" >"$tmp/units/historiand.service"

if ! MANPATH="$tmp/prefix/share/man:" systemd-analyze verify "$tmp/units/historiand.service" >"$tmp/verify.out" 2>&1 ||
    [ -s "$tmp/verify.out" ]; then
    echo "FAIL: systemd-analyze verify:"
    cat "$tmp/verify.out"
    exit 1
fi
echo "ok: systemd-analyze verify $(systemd-analyze --version | head -1): no findings"

systemd-analyze security --offline=yes "$tmp/units/historiand.service" >"$tmp/security.out" 2>&1 || true
level=$(grep -oE 'Overall exposure level for historiand.service: [0-9.]+' "$tmp/security.out" | awk '{print $NF}')
[ -n "$level" ] || { echo "FAIL: no exposure level from systemd-analyze security:"; cat "$tmp/security.out"; exit 1; }
echo "systemd-analyze security: exposure $level (0 = locked down, 10 = none)"
grep '✗' "$tmp/security.out" | sed 's/  */ /g' || true
awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || { echo "FAIL: exposure $level > 2.0"; exit 1; }
echo "ok: exposure $level <= 2.0"
