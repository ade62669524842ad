#!/bin/sh
# make demo, as root on Linux: bring the Samba AD DC lab up and probe it from the client.
set -eu
BIN=${1:-.venv/bin}
if [ "$(id -u)" != 0 ] || [ "$(uname -s)" != Linux ]; then
    echo "(as root on Linux, make demo also builds a Samba AD DC lab and probes it)"
    exit 0
fi
"$BIN/python" -m lab up || { echo "lab unavailable; skipping the live probe" >&2; exit 0; }
echo
echo "Probing the lab's Samba AD DC from the lab's Entra Connect server (hp-client):"
ip netns exec hp-client "$BIN/hybridports" probe examples/lab/topology.yaml --from sync01 \
    --ca-bundle "$("$BIN/python" -c 'import lab; print(lab.Lab().ca_cert)')" || true
echo
echo "Try a firewall scenario:  $BIN/python -m lab scenario table1-no-rpc-dynamic"
echo "Then probe again:         ip netns exec hp-client $BIN/hybridports probe examples/lab/topology.yaml --from sync01 --ca-bundle /var/tmp/hybridports-lab/lab-ca.pem"
echo "Scenarios:                $BIN/python -m lab scenarios;  tear down: $BIN/python -m lab down"
