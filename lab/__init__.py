"""hybridports test lab: network namespaces with a client, an nftables router, a real
Samba AD DC and the Microsoft cloud's stand-ins (dnsmasq, nginx, an AMQP 1.0 peer, squid,
mitmproxy). Standard library only (the cloud PKI helper, lab/cloudpki.py, runs in a
separate Python with ``cryptography``). See lab/README.md.

    from lab import Lab
    with Lab() as lab:
        lab.scenario("drop")
        ...
"""

from __future__ import annotations

from . import config, scenarios
from ._util import LabError, LabUnavailable
from .core import Lab
from .scenarios import ALL_SCENARIOS, CLOUD_SCENARIOS, SCENARIOS, Scenario

__all__ = [
    "ALL_SCENARIOS",
    "CLOUD_SCENARIOS",
    "SCENARIOS",
    "Lab",
    "LabError",
    "LabUnavailable",
    "Scenario",
    "config",
    "scenarios",
]
