#!/usr/bin/env bash
# Regenerate the *.save samples: each NAME.ip4.restore / NAME.ip6.restore is loaded into a
# throwaway network namespace with iptables-restore / ip6tables-restore and saved back with
# iptables-save / ip6tables-save, so the parser is tested on what the tools really print.
# pta-sso-render.save is the renderer's output for examples/pta-sso, loaded the same way.
# Needs root, iproute2, iptables and ipset. Run from the repository root.
set -euo pipefail
here=tests/data/audit/iptables-save

load() {  # load FAMILY INPUT OUTPUT
    local ns="hp-ipt-sample-$$" save restore
    if [ "$1" = 6 ]; then restore=ip6tables-restore save=ip6tables-save
    else restore=iptables-restore save=iptables-save; fi
    ip netns add "$ns"
    trap 'ip netns delete "$ns"' RETURN
    ip netns exec "$ns" ipset create admins hash:net
    ip netns exec "$ns" ipset create services hash:ip,port
    ip netns exec "$ns" "$restore" < "$2"
    ip netns exec "$ns" "$save" > "$3"
}

for input in "$here"/*.ip4.restore "$here"/*.ip6.restore; do
    name=${input##*/}
    family=${name%.restore}; family=${family##*.ip}
    load "$family" "$input" "$here/${name%%.*}.save"
done
rendered=$(mktemp)
.venv/bin/hybridports render examples/pta-sso/topology.yaml --target iptables > "$rendered"
load 4 "$rendered" "$here/pta-sso-render.save"
rm -f "$rendered"
