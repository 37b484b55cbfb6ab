#!/usr/bin/env bash
# gen-man.sh PROG BIN SECTION NAME-LINE INCLUDE OUT: the man page of PROG
# from its --help and --version, with help2man. INCLUDE (a help2man include
# file: SEE ALSO, FILES, ...) is added; for historian the --help of every
# command (the commands `historian --help` lists) is added as a COMMANDS
# section, so the page documents every option.
set -euo pipefail
prog=$1 bin=$2 section=$3 name=$4 include=$5 out=$6
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT
cat "$include" >"$inc"
if [ "$prog" = historian ]; then
    echo "[COMMANDS]" >>"$inc"
    for c in $("$bin" --help | awk '/^  [a-z]+ / {print $1}'); do
        echo ".SS \"historian $c\"" >>"$inc"
        echo ".nf" >>"$inc"
        # roff: a backslash is \e, a line starting with . or ' is escaped
        "$bin" "$c" --help | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" >>"$inc"
        echo ".fi" >>"$inc"
    done
fi
help2man --no-info --section="$section" --name="$name" --include="$inc" \
    --output="$out.tmp" "$bin"
mv "$out.tmp" "$out"
