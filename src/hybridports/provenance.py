"""What every result file says about where it came from, so ``merge`` can refuse mixtures.

``topology_digest`` hashes the parsed topology (hosts, roles, addresses, features, cloud,
ranges, proxy), not the file's bytes: comments and key order do not change it, a moved host
or an added feature does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hybridports import __version__
from hybridports.topology import Topology

# Bump when a result file's JSON shape changes incompatibly; merge refuses other schemas.
RESULT_SCHEMA = 1


def topology_digest(topology: Topology) -> str:
    canonical = {
        "name": topology.name,
        "cloud": topology.cloud.value,
        "domain": topology.domain,
        "features": sorted(f.value for f in topology.features),
        "rpc_dynamic_ports": [r.as_list() for r in topology.rpc_dynamic_ports or ()],
        "proxy": topology.proxy.display if topology.proxy else None,
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "roles": sorted(r.value for r in h.roles),
                "zone": h.zone,
                "rpc_dynamic_ports": [r.as_list() for r in h.rpc_dynamic_ports or ()],
            }
            for h in sorted(topology.hosts, key=lambda h: h.name)
        ],
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def provenance(topology: Topology, kind: str) -> dict[str, Any]:
    """Top-level keys of a result file: ``kind`` is "probe" or "audit"."""
    return {
        "kind": kind,
        "hybridports": {"version": __version__, "schema": RESULT_SCHEMA},
        "topology": topology.name,
        "topology_digest": topology_digest(topology),
    }
