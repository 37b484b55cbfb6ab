# The completion function (packaging/bash-completion/historiand.bash,
# appended to the generated option lists above).
_historiand() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=
    [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    case $prev in
    --io) COMPREPLY=($(compgen -W "uring sync auto" -- "$cur")) && return ;;
    --log-level) COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")) && return ;;
    --mqtt-version) COMPREPLY=($(compgen -W "5 3.1.1" -- "$cur")) && return ;;
    --mqtt-time-unit) COMPREPLY=($(compgen -W "s ms us ns" -- "$cur")) && return ;;
    esac
    if [[ $_historiand_dirs == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur"))
        return
    fi
    if [[ $_historiand_files == *" $prev "* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    [[ $_historiand_args == *" $prev "* ]] && return
    COMPREPLY=($(compgen -W "$_historiand_opts" -- "$cur"))
}
complete -F _historiand historiand
