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
# --ca-bundle: the DC's LDAPS certificate comes from the lab's internal CA;
# --public-ca: the lab's stand-in for the public CAs that sign the Microsoft cloud names;
# --dns-server: the lab's cloud DNS, which answers the catalog's cloud names.
eval "$("$BIN/python" -c 'import lab; l = lab.Lab(); print(f"DC_CA={l.ca_cert} PUBLIC_CA={l.public_ca} CLOUD_DNS={l.dns_server}")')"
ip netns exec hp-client "$BIN/hybridports" probe examples/lab/topology.yaml --from sync01 \
    --ca-bundle "$DC_CA" --public-ca "$PUBLIC_CA" --dns-server "$CLOUD_DNS" || true
echo
echo "Try a firewall scenario:  $BIN/python -m lab scenario table1-no-rpc-dynamic"
echo "Then probe again:         ip netns exec hp-client $BIN/hybridports probe examples/lab/topology.yaml --from sync01 --ca-bundle $DC_CA --public-ca $PUBLIC_CA --dns-server $CLOUD_DNS"
echo "Cloud scenarios:          cloud-443-blocked, cloud-80-blocked, cloud-5671-blocked, cloud-proxy-only (add --proxy http://198.18.3.20:3128)"
echo "Scenarios:                $BIN/python -m lab scenarios;  tear down: $BIN/python -m lab down"
