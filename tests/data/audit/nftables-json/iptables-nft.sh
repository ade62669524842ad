#!/bin/sh
# iptables-nft rules (the default iptables on Debian 12 and RHEL 9): nft lists the
# extensions it cannot translate as "xt" statements without their options.
set -eu
iptables -P FORWARD DROP
iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A FORWARD -p tcp -m multiport --dports 88,389 -d 10.0.2.10 -j ACCEPT
iptables -A FORWARD -p tcp --dport 445 -m comment --comment "SMB to the DC" -d 10.0.2.10 -j ACCEPT
iptables -A FORWARD -m recent --name scanners --rcheck -j DROP
iptables -A FORWARD -j LOG --log-prefix "forward drop: "
iptables -A FORWARD -p tcp -j REJECT --reject-with tcp-reset
