#!/usr/bin/env bash
# gen-completion.sh PROG BIN TEMPLATE OUT: writes the bash completion of
# PROG (historiand or historian) from the program's own --help, so the
# completed options are always the ones the built program has.
#
# The options are every --long (and -x short) option the help text names.
# One that the help shows followed by an upper-case placeholder (--data
# DIR, --from TIME) takes a value: DIR values complete directories, FILE
# values files, others nothing. historiand's parser takes a value after
# every option but --help, --version, --check-config and --repair, so all
# of its other options do.
# For historian, each command's options come from `historian CMD --help`
# and the commands from `historian --help`. The variables are written first,
# then TEMPLATE (the completion functions) is appended.
set -euo pipefail
prog=$1 bin=$2 template=$3 out=$4

# options of one help text, one per line: "NAME KIND" (KIND = flag, dir,
# file or arg)
options() {
    local help=$1 all_values=${2:-0}
    {
        grep -oE -- '(^|[^a-zA-Z0-9-])--[a-z][a-z0-9-]*( [A-Z][A-Z0-9_.:|=]*)?' <<<"$help" |
            sed -E 's/^[^-]+//' || true
        grep -oE -- '^ +-[a-zA-Z], --[a-z][a-z0-9-]*( [A-Z][A-Z0-9_.:|=]*)?' <<<"$help" |
            sed -E 's/^ +(-[a-zA-Z]), --[a-z0-9-]*/\1/' || true
    } | awk -v all="$all_values" '
        BEGIN { rank["flag"] = 0; rank["arg"] = 1; rank["dir"] = 2; rank["file"] = 2 }
        { name = $1; ph = $2
          if (name == "--help" || name == "--version" || name == "-h" ||
              name == "--check-config" || name == "--repair") kind = "flag"
          else if (ph ~ /^DIR/) kind = "dir"
          else if (ph ~ /^FILE/) kind = "file"
          else if (ph != "" || all) kind = "arg"
          else kind = "flag"
          # the most telling mention wins: dir or file over a bare value
          # over none ("(needs --tls-key)" before "--tls-key FILE")
          if (!(name in k) || rank[kind] > rank[k[name]]) k[name] = kind
          if (!(name in seen)) { seen[name] = 1; order[++n] = name } }
        END { for (i = 1; i <= n; i++) print order[i], k[order[i]] }'
}

# the shell variables of one option list: PREFIX_opts, _dirs, _files, _args
emit() {
    local prefix=$1 list=$2
    printf '%s_opts="%s"\n' "$prefix" "$(awk '{printf "%s%s", (NR > 1 ? " " : ""), $1}' <<<"$list")"
    for kind in dir file arg; do
        printf '%s_%ss=" %s "\n' "$prefix" "$kind" \
            "$(awk -v k=$kind '$2 == k {printf "%s%s", (n++ ? " " : ""), $1}' <<<"$list")"
    done
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
    echo "# bash completion for $prog: the option lists are generated from"
    echo "# \`$prog --help\` by packaging/bash-completion/gen-completion.sh."
    if [ "$prog" = historiand ]; then
        emit _historiand "$(options "$("$bin" --help)" 1)"
    else
        top=$("$bin" --help)
        cmds=$(awk '/^  [a-z]+ / {print $1}' <<<"$top")
        printf '_historian_cmds="%s"\n' "$(tr '\n' ' ' <<<"$cmds" | sed 's/ $//')"
        emit _historian_top "$(options "$top")"
        for c in $cmds; do
            h=$("$bin" "$c" --help)
            emit "_historian_${c}" "$(options "$h")"
            # sub-commands of a command: "historian tags show NAME"
            printf '_historian_%s_subs="%s"\n' "$c" \
                "$(grep -oE "historian $c [a-z]+" <<<"$h" | awk '{print $3}' | sort -u | tr '\n' ' ' | sed 's/ $//')"
        done
    fi
    echo
    cat "$template"
} >"$tmp"
mv "$tmp" "$out"
trap - EXIT
