#!/bin/sh
# test_versions.sh VERSION BC_VERSION_PROG MANDIR - barrierd --version,
# barrierctl --version, bc_version() and the man pages all say the project's
# version (project(VERSION) -> proto/bp_version.h).
set -eu
v=$1
d=$("$BARRIERD" --version | awk '{print $2}')
c=$("$BARRIERCTL" --version | awk '{print $2}')
l=$("$2")
echo "project $v, barrierd $d, barrierctl $c, bc_version() $l"
[ "$d" = "$v" ] && [ "$c" = "$v" ] && [ "$l" = "$v" ] || { echo "versions disagree"; exit 1; }
for p in barrierd.8 barrierctl.1 libbarrierclient.3; do
    grep -q "barrierd $v" "$3/$p" || { echo "$p does not say barrierd $v"; exit 1; }
done
