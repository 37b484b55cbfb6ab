#!/usr/bin/env bash
# test_deb.sh: builds the Debian package (scripts/build-deb.sh), installs
# it with dpkg -i, checks what it installed and created (the programs, the
# unit, the conffile, the historian user, /var/lib/historian), runs the
# installed historiand as the historian user the way the unit does
# (--config /etc/historian/historiand.conf --data /var/lib/historian) on
# free loopback ports and asks /healthz, then removes the package (the data
# stays) and purges it (the data and /etc/historian go). Needs root and
# changes the machine: run it on a test machine or in a container. systemd
# need not be running: the maintainer scripts then only enable the unit.
# Prints how long the build took. Exit 77 (skip) when not root or no dpkg.
set -euo pipefail
# a command that fails outside a check says where, instead of a silent exit
trap 'echo "FAIL: $0:$LINENO: \"$BASH_COMMAND\" exited $?"' ERR
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
    echo "SKIP: needs root and dpkg"
    exit 77
fi
if grep -q "ok installed" <<<"$(dpkg-query -W -f='${Status}' historian 2>/dev/null)"; then
    echo "FAIL: the historian package is already installed here; not touching it"
    exit 1
fi
user_before=0
getent passwd historian >/dev/null && user_before=1
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    dpkg-query -W historian >/dev/null 2>&1 && dpkg --purge historian >/dev/null 2>&1
    # the package keeps its system user (Debian's way); the test removes
    # the one it made
    [ $user_before -eq 0 ] && getent passwd historian >/dev/null && userdel historian 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

start=$(date +%s)
bash scripts/build-deb.sh "$tmp/out" | tee "$tmp/build.out"
echo "test_deb: build-deb.sh took $(( $(date +%s) - start )) s"
deb=$(ls "$tmp"/out/historian_*.deb)

dpkg -i "$deb" >"$tmp/install.out" 2>&1 || { cat "$tmp/install.out"; bad "dpkg -i failed"; exit 1; }
sed "s/^/  dpkg -i: /" "$tmp/install.out"
echo "test_deb: installed $(basename "$deb")"
for f in /usr/bin/historiand /usr/bin/historian /lib/systemd/system/historiand.service \
    /usr/lib/sysusers.d/historian.conf /etc/historian/historiand.conf \
    /usr/share/man/man8/historiand.8.gz /usr/share/man/man1/historian.1.gz \
    /usr/share/bash-completion/completions/historiand /usr/share/doc/historian/copyright; do
    [ -e "$f" ] || bad "not installed: $f"
done
grep -q '/etc/historian/historiand.conf' <<<"$(dpkg-query -W -f='${Conffiles}\n' historian)" ||
    bad "/etc/historian/historiand.conf is not a conffile"
grep -q '^ExecStart=/usr/bin/historiand --config /etc/historian/historiand.conf --data /var/lib/historian$' \
    /lib/systemd/system/historiand.service || bad "unit's ExecStart= is not /usr/bin/historiand ..."
[ -L /etc/systemd/system/multi-user.target.wants/historiand.service ] || bad "unit not enabled"
getent passwd historian >/dev/null || bad "no user historian"
[ "$(getent passwd historian | cut -d: -f7)" = /usr/sbin/nologin ] || bad "historian's shell is not nologin"
[ "$(stat -c '%U:%G %a' /var/lib/historian 2>/dev/null)" = "historian:historian 750" ] ||
    bad "/var/lib/historian is '$(stat -c '%U:%G %a' /var/lib/historian 2>&1)', not historian:historian 750"
v=$(/usr/bin/historiand --version)
echo "test_deb: $v; $(/usr/bin/historian --version)"
[[ $v =~ ^historiand\ [0-9]+\.[0-9]+\.[0-9]+\ \(git\ [^\)]+\)$ ]] || bad "historiand --version: '$v'"

# the installed server as the unit runs it, but on free loopback ports
ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
set -- $ports
setpriv --reuid=historian --regid=historian --init-groups --no-new-privs \
    /usr/bin/historiand --config /etc/historian/historiand.conf --data /var/lib/historian \
    --http "127.0.0.1:$1" --ingest "127.0.0.1:$2" >"$tmp/server.log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 100); do # 10 s at most
    if curl -fsS "http://127.0.0.1:$1/healthz" >"$tmp/health" 2>/dev/null; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
[ $ok -eq 1 ] && echo "test_deb: /healthz as user historian: $(cat "$tmp/health")" ||
    { bad "no answer on /healthz"; cat "$tmp/server.log"; }
curl -fsS "http://127.0.0.1:$1/metrics" | grep '^historian_build_info' || bad "no historian_build_info on /metrics"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ $rc -eq 0 ] || { bad "historiand exited $rc on SIGTERM"; cat "$tmp/server.log"; }
owner=$(find /var/lib/historian -mindepth 1 ! -user historian | head -3)
[ -z "$owner" ] || bad "files in /var/lib/historian not owned by historian: $owner"
[ -n "$(ls -A /var/lib/historian)" ] || bad "historiand wrote nothing in /var/lib/historian"

# remove keeps the data and the conffile; purge removes both
dpkg -r historian >"$tmp/remove.out" 2>&1 || { cat "$tmp/remove.out"; bad "dpkg -r failed"; }
[ -e /usr/bin/historiand ] && bad "dpkg -r left /usr/bin/historiand"
[ -n "$(ls -A /var/lib/historian 2>/dev/null)" ] || bad "dpkg -r removed the data"
[ -e /etc/historian/historiand.conf ] || bad "dpkg -r removed the conffile"
dpkg --purge historian >"$tmp/purge.out" 2>&1 || { cat "$tmp/purge.out"; bad "dpkg --purge failed"; }
for f in /var/lib/historian /etc/historian /etc/systemd/system/multi-user.target.wants/historiand.service; do
    [ -e "$f" ] || [ -L "$f" ] && bad "purge left $f"
done
[ $fail -eq 0 ] && echo "ok: the package builds, installs, runs as historian, removes and purges"
exit $fail
