# The completion function (packaging/bash-completion/historian.bash,
# appended to the generated command and option lists above).
_historian() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=
    [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    if [ "$COMP_CWORD" -le 1 ]; then
        COMPREPLY=($(compgen -W "$_historian_cmds $_historian_top_opts" -- "$cur"))
        return
    fi
    local cmd=${COMP_WORDS[1]}
    [[ " $_historian_cmds " == *" $cmd "* ]] || return
    local v=_historian_${cmd}
    local opts=${v}_opts dirs=${v}_dirs files=${v}_files args=${v}_args subs=${v}_subs
    case $prev in
    -m | --mode) COMPREPLY=($(compgen -W "raw latest interp aggregate plot" -- "$cur")) && return ;;
    --fill) COMPREPLY=($(compgen -W "null none previous linear" -- "$cur")) && return ;;
    --type) COMPREPLY=($(compgen -W "float64 int64 bool" -- "$cur")) && return ;;
    -F | --format) COMPREPLY=($(compgen -W "table csv json wide" -- "$cur")) && return ;;
    -b | --bucket) [ "$cmd" = query ] && COMPREPLY=($(compgen -W "hour day week month shift" -- "$cur")) && return ;;
    esac
    if [[ ${!dirs} == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
        return
    fi
    if [[ ${!files} == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    [[ ${!args} == *" $prev "* ]] && return
    if [[ $cur == -* || $COMP_CWORD -gt 2 || -z ${!subs} ]]; then
        COMPREPLY=($(compgen -W "${!opts}" -- "$cur"))
        # import reads a file, export writes one: complete names as well
        if [[ $cur != -* && ($cmd == import) ]]; then
            compopt -o filenames 2>/dev/null
            COMPREPLY+=($(compgen -f -- "$cur"))
        fi
    else
        COMPREPLY=($(compgen -W "${!subs} ${!opts}" -- "$cur"))
    fi
}
complete -F _historian historian
