#!/bin/sh
# Regenerates the .json samples: every .nft file (and iptables-nft.sh) is loaded into a
# throwaway network namespace and listed with `nft -j list ruleset`, exactly as a user would.
# Needs root, nft and iptables-nft. Run from this directory.
set -eu
namespace="hp-nftjson-$$"
trap 'ip netns delete "$namespace" 2>/dev/null || true' EXIT
for source in *.nft iptables-nft.sh; do
	ip netns add "$namespace"
	ip -n "$namespace" link add wan0 type veth peer name wan0-peer
	case "$source" in
	*.nft) ip netns exec "$namespace" nft -f "$source" ;;
	*.sh) ip netns exec "$namespace" sh "$source" ;;
	esac
	ip netns exec "$namespace" nft -j list ruleset >"${source%.*}.json"
	ip netns delete "$namespace"
done
