#!/usr/bin/env bash
# test_install.sh BUILD_DIR VERSION: `cmake --install BUILD_DIR --prefix
# TMP` installs every expected file; the man pages render (man -l, or
# groff); both installed programs print VERSION with --version; the
# installed bash completions offer every option each program's --help
# names (historian: of every command), complete values where they should
# (enumerations, directories) and not options after an option that takes a
# value. The expected lists are written here, not taken from the install.
set -euo pipefail
# a command that fails outside a check says where, instead of a silent exit
trap 'echo "FAIL: $0:$LINENO: \"$BASH_COMMAND\" exited $?"' ERR
build=$1 version=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix
cmake --install "$build" --prefix "$p" >"$tmp/install.log"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# HIST_NO_MAN=1: the build found no help2man, so it has no man pages
man_files="share/man/man8/historiand.8 share/man/man1/historian.1"
[ "${HIST_NO_MAN:-0}" = 1 ] && man_files= && echo "man pages: not built (no help2man); not checked"
for f in bin/historiand bin/historian $man_files \
    share/bash-completion/completions/historiand share/bash-completion/completions/historian \
    lib/systemd/system/historiand.service lib/sysusers.d/historian.conf \
    share/doc/historian/historiand.conf.example share/doc/historian/LICENSE; do
    [ -s "$p/$f" ] || bad "not installed: $f"
done
[ -x "$p/bin/historiand" ] && [ -x "$p/bin/historian" ] || bad "programs not executable"
grep -q '^u historian ' "$p/lib/sysusers.d/historian.conf" || bad "sysusers.d: no user historian"
grep -q 'Apache License' "$p/share/doc/historian/LICENSE" || bad "LICENSE is not Apache-2.0"
echo "installed: $(cd "$p" && find . -type f | wc -l) files"

# the example configuration is one historiand accepts: --config with a
# check of an empty data directory (exit 0: nothing damaged) proves it parses
mkdir "$tmp/data"
sed -e 's/^#\(log-level=info\)$/\1/' -e 's/^#\(io=auto\)$/\1/' \
    "$p/share/doc/historian/historiand.conf.example" >"$tmp/conf"
"$p/bin/historiand" --config "$tmp/conf" --check-data "$tmp/data" >"$tmp/check.out" 2>&1 ||
    { bad "historiand does not take the example config (with two lines uncommented):"; cat "$tmp/check.out"; }

# --version
for prog in historiand historian; do
    v=$("$p/bin/$prog" --version) || bad "$prog --version exited $?"
    [[ $v =~ ^$prog\ ${version//./\\.}\ \(git\ [^\)]+\)$ ]] || bad "$prog --version printed '$v'"
    echo "$v"
done

# man pages
render() {
    if command -v man >/dev/null; then
        MANWIDTH=100 man -l "$1" 2>/dev/null
    elif command -v groff >/dev/null; then
        groff -man -Tutf8 "$1" 2>/dev/null
    else
        return 77
    fi
}
if [ -z "$man_files" ]; then
    :
elif command -v man >/dev/null || command -v groff >/dev/null; then
    render "$p/share/man/man8/historiand.8" >"$tmp/d.txt" || bad "man -l historiand.8 exited $?"
    render "$p/share/man/man1/historian.1" >"$tmp/c.txt" || bad "man -l historian.1 exited $?"
    grep -q '^HISTORIAND(8)' "$tmp/d.txt" || bad "historiand(8) does not render with its title"
    grep -q '^HISTORIAN(1)' "$tmp/c.txt" || bad "historian(1) does not render with its title"
    for o in --data --config --version --max-connections; do
        grep -q -- "$o" "$tmp/d.txt" || bad "historiand(8) lacks $o"
    done
    for c in query tags import export stats simulate; do
        grep -q "historian $c" "$tmp/c.txt" || bad "historian(1) lacks the command $c"
    done
    grep -q -- '--include-bad' "$tmp/c.txt" || bad "historian(1) lacks query's options"
    echo "man pages render: historiand(8) $(wc -l <"$tmp/d.txt") lines, historian(1) $(wc -l <"$tmp/c.txt") lines"
else
    echo "man pages: neither man nor groff installed; rendering not checked"
fi

# bash completion: ask the installed completion function what it offers
complete_words() { # PROG WORD... (the last word is the one being completed)
    local prog=$1
    shift
    bash -c '
        source "$1"; shift
        fn=$1; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        compopt() { :; }
        $fn
        printf "%s\n" "${COMPREPLY[@]}"' _ \
        "$p/share/bash-completion/completions/$prog" "_$prog" "$prog" "$@"
}
help_options() { grep -oE -- '(^|[^a-zA-Z0-9-])--[a-z][a-z0-9-]*' | sed -E 's/^[^-]+//' | sort -u; }

got=$(complete_words historiand -- | sort -u)
missing=$(comm -23 <("$p/bin/historiand" --help | help_options) <(echo "$got"))
[ -z "$missing" ] || bad "historiand completion lacks: $(echo $missing)"
echo "historiand: $(echo "$got" | wc -l) options completed"
[ "$(complete_words historiand --io '')" = "$(printf 'uring\nsync\nauto')" ] || bad "historiand --io completes '$(complete_words historiand --io '' | tr '\n' ' ')'"
mkdir -p "$tmp/cwd/dir1" && touch "$tmp/cwd/file1"
[ "$(cd "$tmp/cwd" && complete_words historiand --data '')" = dir1 ] || bad "historiand --data does not complete directories only"
[ -z "$(complete_words historiand --max-connections '')" ] || bad "historiand --max-connections completes something"

cmds=$(complete_words historian '' | grep -v '^-' | sort)
want_cmds=$("$p/bin/historian" --help | awk '/^  [a-z]/ {print $1}' | sort)
[ -n "$want_cmds" ] && [ "$cmds" = "$want_cmds" ] || bad "historian commands completed: $(echo $cmds) (--help lists: $(echo $want_cmds))"
for c in $cmds; do
    got=$(complete_words historian "$c" -- | sort -u)
    missing=$(comm -23 <("$p/bin/historian" "$c" --help | help_options) <(echo "$got"))
    [ -z "$missing" ] || bad "historian $c completion lacks: $(echo $missing)"
    echo "historian $c: $(echo "$got" | wc -l) options completed"
done
[ "$(complete_words historian query --mode in)" = interp ] || bad "historian query --mode in does not complete interp"
grep -qx show <<<"$(complete_words historian tags '')" || bad "historian tags does not complete 'show'"
[ -z "$(complete_words historian query --from '')" ] || bad "historian query --from completes something"

[ $fail -eq 0 ] && echo "ok: install, man pages, --version, completions"
exit $fail
