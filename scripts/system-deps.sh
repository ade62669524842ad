#!/bin/sh
# System packages the tests use (the lab's real peers). Installed with apt when missing and
# when we are root; otherwise the tests that need them skip and say why.
set -eu
PACKAGES=""
need() { dpkg -s "$1" >/dev/null 2>&1 || PACKAGES="$PACKAGES $1"; }
command -v dpkg >/dev/null || exit 0
need nftables  # render tests: nft -c -f in a throwaway namespace
need iptables  # render tests: iptables-restore --test / ip6tables-restore --test
need chromium  # merge HTML report tests (Playwright drives /usr/bin/chromium)
# The lab (lab/) installs its own packages (Samba, dnsmasq, nginx, squid, …) when it starts.
[ -z "$PACKAGES" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "note: not root; missing system packages:$PACKAGES (tests that need them will skip)" >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
