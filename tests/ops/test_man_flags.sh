#!/bin/sh
# test_man_flags.sh MANDIR - every flag barrierd --help and barrierctl --help
# print (long and short) appears in barrierd.8 / barrierctl.1 as built by scdoc.
set -eu
mandir=$1
status=0
check() { # PROGRAM PAGE
    help=$("$1" --help 2>&1 || true)
    # roff: drop font changes (\fB...\fR) and escaped hyphens
    text=$(sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' "$mandir/$2")
    flags=$(printf '%s\n' "$help" | grep -oE '(^|[][ ,(])--?[A-Za-z][A-Za-z-]*' |
            sed -E 's/^[][ ,(]//' | sort -u)
    [ -n "$flags" ] || { echo "no flags found in $1 --help"; status=1; return; }
    for f in $flags; do
        if printf '%s\n' "$text" | grep -qE -- "(^|[^A-Za-z-])$f([^A-Za-z-]|\$)"; then
            :
        else
            echo "$2: flag $f of $(basename "$1") --help is missing"; status=1
        fi
    done
    echo "$2: $(echo $flags | wc -w) flags checked"
}
check "$BARRIERD" barrierd.8
check "$BARRIERCTL" barrierctl.1
exit $status
