#!/usr/bin/env bash
# check_layers.sh: the module map of docs/architecture.md, checked.
#
# Rules, for every C file of the project (build trees and node_modules left
# out):
#   1. doors: a file includes the headers of its own module and only the
#      doors (public headers) of the modules below it in the map; a
#      sub-folder with a door of its own (tools/client/, query/api/,
#      ingest/sparkplug/) keeps
#      its other headers to itself, and one that stands above the rest of
#      its module (query/api/, the HTTP read API over the query engine) is
#      not included at all by the module's other files;
#      tests/ and bench/ are white-box and may include any project header;
#   2. no #include of a .c file;
#   3. no source or header file over 1,000 lines;
#   3b. pure folders: a folder listed in `pure` (ingest/mqtt/, the MQTT
#      protocol, ingest/lineproto/, line protocol, and ingest/csv/, the CSV
#      sample reader: bytes in, bytes
#      out) includes only its own headers and
#      the modules listed for it, never the rest of its module;
#   4. the historian CLI and the gateway client (tools/cli_*, historian.c,
#      tools/client/) include nothing of storage/, query/ or ingest/: the
#      CLI does not link the engine; the one exception is the door of the
#      pure CSV reader (ingest/csv/hist_csv.h, on common/ and libcsv only),
#      which `historian import` shares with the server;
#   5. names: a function defined without `static` in a module's .c file is
#      either a door (named hist_..., declared in a door of its module) or
#      a cross-file internal with a module-private prefix (`unit__name`,
#      libuv's uv__ habit; the CLI's cli_ and the client library's client_
#      are theirs); main() is main. tests/ and bench/ are not checked;
#   6. calls go one way inside a folder: among the .c files of one folder
#      (storage/, storage/codec/, query/, query/api/, ingest/,
#      ingest/sparkplug/, ingest/mqtt/, ingest/lineproto/, ingest/csv/, tools/,
#      tools/client/, common/), the graph "a.c calls a function defined in b.c" has no
#      cycle (comments and strings left out; calls through a function
#      pointer are not seen, which is how a lower file calls back up).
# Prints every violation as "file:line: rule: what" and exits 1 when there
# is one, 0 (and one summary line) when there is none.
set -uo pipefail
cd "$(dirname "$0")/.."

# module -> the modules below it (its allowed dependencies)
declare -A below=(
    [common]=""
    [proto]=""
    [storage]="common"
    [query]="common storage"
    [ingest]="common storage query proto"
    [tools]="common storage query ingest proto"
)
# module -> its doors ("*" = every header of the module is a door)
declare -A doors=(
    [common]="*"
    [proto]="proto/historian.pb-c.h"
    [storage]="storage/hist_storage.h"
    [query]="query/hist_query.h query/api/hist_api.h"
    [ingest]="ingest/hist_server.h ingest/sparkplug/hist_sparkplug.h ingest/csv/hist_csv.h"
    [tools]="tools/cli.h tools/plantgen.h tools/client/hist_client.h"
)
# sub-folders with a door of their own: folder -> door (their other headers
# are private to the folder)
declare -A subdoors=([tools/client]=tools/client/hist_client.h [query/api]=query/api/hist_api.h
                     [ingest/sparkplug]=ingest/sparkplug/hist_sparkplug.h
                     [ingest/mqtt]=ingest/mqtt/hist_mqtt.h
                     [ingest/lineproto]=ingest/lineproto/hist_lineproto.h
                     [ingest/csv]=ingest/csv/hist_csv.h)
# sub-folders above the rest of their module: the module's other files may
# not include anything of them, not even their door (the engine is below
# the API)
subabove=(query/api)
# files that stay off the engine: the historian CLI and the gateway client
# link common/, the client and the generator only (never storage, query,
# ingest); a pattern of paths -> the folders they may not include
keep_off_files=("./tools/cli_*" "./tools/historian.c" "./tools/client/*" "./tools/plantgen.*")
keep_off_dirs="storage query ingest"
# pure doors the files that stay off the engine may include all the same
keep_off_allowed="ingest/csv/hist_csv.h"
# pure folders -> the modules (or folders) they may include besides their own
declare -A pure=([ingest/mqtt]="common" [ingest/lineproto]="common" [ingest/csv]="common")
[ -f layers.conf ] && . ./layers.conf

violations=0
files=0
say() { echo "$1"; violations=$((violations + 1)); }

is_door() { # module header
    local d
    [ "${doors[$1]}" = "*" ] && return 0
    for d in ${doors[$1]}; do [ "$d" = "$2" ] && return 0; done
    return 1
}

check_include() { # file line module header
    local file=$1 line=$2 mod=$3 inc=$4 top=${4%%/*} dep sub
    case "$inc" in
        *.c) say "$file:$line: no .c includes: $inc"; return ;;
    esac
    [ "$inc" = "$top" ] && return # a system-style name without a folder
    local pf ok p
    for pf in "${!pure[@]}"; do
        case "$file" in
            ./"$pf"/*)
                ok=0
                case "$inc" in "$pf"/*) ok=1 ;; esac
                for p in ${pure[$pf]}; do case "$inc" in "$p"/*) ok=1 ;; esac; done
                [ $ok = 1 ] || say "$file:$line: pure: $pf/ includes only itself and ${pure[$pf]} ($inc)"
                ;;
        esac
    done
    [ -n "${below[$top]+x}" ] || return # not a project module (check.h, harness.h, ...)
    if [ "$top" = "$mod" ]; then
        # inside the module: a sub-folder above the rest is not included by
        # the rest, and a sub-folder's private headers stay in it
        for sub in "${subabove[@]}"; do
            case "$inc" in
                "$sub"/*) case "$file" in
                              ./"$sub"/*) ;;
                              *) say "$file:$line: below: $inc is in $sub/, which stands above the rest of $mod/"
                                 return ;;
                          esac ;;
            esac
        done
        for sub in "${!subdoors[@]}"; do
            case "$inc" in
                "$sub"/*) case "$file" in
                              ./"$sub"/*) ;;
                              *) [ "$inc" = "${subdoors[$sub]}" ] ||
                                  say "$file:$line: doors: $inc is private to $sub/ (door: ${subdoors[$sub]})" ;;
                          esac ;;
            esac
        done
        return
    fi
    local pat off
    for pat in "${keep_off_files[@]}"; do
        # shellcheck disable=SC2053
        [[ $file == $pat ]] || continue
        [[ " $keep_off_allowed " == *" $inc "* ]] && continue
        for off in $keep_off_dirs; do
            [ "$top" = "$off" ] && say "$file:$line: off the engine: $inc ($file must not reach $off/)"
        done
    done
    for dep in ${below[$mod]}; do
        if [ "$dep" = "$top" ]; then
            is_door "$top" "$inc" || say "$file:$line: doors: $inc is inside $top/ (doors: ${doors[$top]})"
            return
        fi
    done
    say "$file:$line: doors: $mod/ may not include $inc ($top/ is not below $mod/)"
}

while IFS= read -r file; do
    files=$((files + 1))
    lines=$(wc -l <"$file")
    [ "$lines" -gt 1000 ] && say "$file:1: size: $lines lines (at most 1,000)"
    mod=${file#./}
    mod=${mod%%/*}
    while IFS=: read -r line inc; do
        inc=${inc#*\"}
        inc=${inc%%\"*}
        case "$mod" in
            tests | bench) case "$inc" in *.c) say "$file:$line: no .c includes: $inc" ;; esac ;;
            *) [ -n "${below[$mod]+x}" ] && check_include "$file" "$line" "$mod" "$inc" ;;
        esac
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" | sed 's/:.*#[[:space:]]*include[[:space:]]*/:/')
done < <(find . \( -path ./.git -o -path '*/node_modules' -o -path './build*' \) -prune -o \
              -type f \( -name '*.c' -o -name '*.h' \) -print | sort)

# rule 5: "file:line name" for every function defined without static
defined_functions() { # file
    awk '
        pending != "" {
            sig = sig " " $0
            if ($0 ~ /\)[[:space:]]*$/) { closed = 1 }
            else if ($0 ~ /^\{/ && closed) { print FILENAME ":" start " " name; pending = "" ; next }
            else if (closed || $0 ~ /;[[:space:]]*$/) { pending = "" }
            if (pending != "" && closed && $0 !~ /\)[[:space:]]*$/) pending = ""
            if (pending != "" && $0 ~ /^\{/) { print FILENAME ":" start " " name; pending = ""; next }
            next
        }
        /^[A-Za-z_]/ && !/^(static|typedef|extern|struct|union|enum)[[:space:]]/ && /\(/ && !/;[[:space:]]*$/ {
            line = $0; sub(/\(.*/, "", line); n = split(line, w, /[^A-Za-z0-9_]+/)
            name = w[n]; if (name == "") next
            start = FNR; pending = name; closed = ($0 ~ /\)[[:space:]]*$/); sig = $0
        }
    ' "$1"
}
door_headers_of() { # file -> the door headers its names may be declared in
    local f=${1#./} d sub
    for sub in "${!subdoors[@]}"; do
        case "$f" in
            "$sub"/*) echo "${subdoors[$sub]}"; return ;;
        esac
    done
    d=${doors[${f%%/*}]}
    [ "$d" = "*" ] && d=$(ls "${f%%/*}"/hist_*.h)
    for sub in "${!subdoors[@]}"; do # a sub-folder's door is not its module's
        d=$(echo "$d" | tr ' ' '\n' | grep -vx "${subdoors[$sub]}" | paste -sd' ')
    done
    echo "$d"
}
check_names() { # file
    local file=$1 where name heads
    heads=$(door_headers_of "$file")
    while read -r where name; do
        case "$name" in
            main | *__*) continue ;;
            hist_*)
                # shellcheck disable=SC2086
                grep -qw "$name" $heads ||
                    say "$where: names: $name is not in a door ($heads); a cross-file internal is unit__name" ;;
            cli_* | client_*) case "$file" in ./tools/*) continue ;; esac
                say "$where: names: $name has no module-private prefix (unit__name)" ;;
            *) say "$where: names: $name has no module-private prefix (unit__name)" ;;
        esac
    done < <(defined_functions "$file")
}
while IFS= read -r file; do
    check_names "$file"
done < <(find ./common ./storage ./query ./ingest ./tools -path '*/node_modules' -prune -o \
              -type f -name '*.c' -print | sort)

# rule 6: "caller callee" file pairs inside one folder, then tsort finds loops
call_edges() { # folder
    local dir=$1 f defs
    defs=$(for f in "$dir"/*.c; do defined_functions "$f"; done | sed 's/:[0-9]* / /')
    [ -n "$defs" ] || return 0
    for f in "$dir"/*.c; do
        printf '%s %s\n' "$f" "$f" # every file is a node
        # shellcheck disable=SC2016
        perl -0777 -ne '
            BEGIN { my %d; }
            s{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{"(?:\\.|[^"\\\n])*"}{""}g;
            print "$1\n" while /\b([A-Za-z_]\w*)\s*\(/g' "$f" | sort -u |
            awk -v me="$f" 'NR == FNR { def[$2] = $1; next } ($1 in def) && def[$1] != me { print me, def[$1] }' \
                <(printf '%s\n' "$defs") -
    done | sort -u
}
check_calls() { # folder
    local loop
    loop=$(call_edges "$1" | tsort 2>&1 >/dev/null | grep -v 'input contains a loop' | sed 's/^tsort: //' | tr '\n' ' ')
    [ -z "$loop" ] || say "$1: calls: a cycle among ${loop% } (a file may call only files below it)"
}
for dir in ./storage ./storage/codec ./query ./query/api ./ingest ./ingest/sparkplug ./ingest/mqtt ./ingest/lineproto ./ingest/csv ./tools ./tools/client ./common; do
    check_calls "$dir"
done

if [ "$violations" -gt 0 ]; then
    echo "layers: $violations violation(s) in $files files"
    exit 1
fi
echo "layers: $files files, no violations"
