"""hybridports test lab: network namespaces with a client, an nftables router and a real
Samba AD DC. Standard library only. See lab/README.md.

    from lab import Lab
    with Lab() as lab:
        lab.scenario("drop")
        ...
"""

from __future__ import annotations

from . import config, scenarios
from ._util import LabError, LabUnavailable
from .core import Lab
from .scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "Lab", "LabError", "LabUnavailable", "Scenario", "config", "scenarios"]
