#!/bin/sh
# test_unit_verify.sh UNIT - systemd-analyze verify accepts barrierd.service,
# silently. Its ExecStart names the installed barrierd, which verify wants to
# exist: a copy pointing at the built one ($BARRIERD) is verified. Skipped
# (77) without systemd-analyze (Debian: systemd).
set -eu
unit=$1
command -v systemd-analyze >/dev/null 2>&1 || { echo "no systemd-analyze: skipped"; exit 77; }
work=$(mktemp -d /tmp/ops-unit-XXXXXX)
trap 'rm -rf "$work"' EXIT
grep -q '^Type=notify$' "$unit"
grep -q '^ExecStart=[^ ]*/barrierd --listen ' "$unit"
for k in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes \
         'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    grep -qx "$k" "$unit" || { echo "missing: $k"; exit 1; }
done
sed "s|^ExecStart=[^ ]*/barrierd |ExecStart=$BARRIERD |" "$unit" > "$work/barrierd.service"
out=$(systemd-analyze verify --man=no "$work/barrierd.service" 2>&1) || {
    echo "$out"; echo "systemd-analyze verify failed"; exit 1; }
# verify exits 0 on many problems (an unknown setting, a bad value): any output fails
if [ -n "$out" ]; then echo "$out"; echo "systemd-analyze verify complained"; exit 1; fi
echo "barrierd.service verified"
