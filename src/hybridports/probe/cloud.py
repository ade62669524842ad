"""Which names, proxy and probe a cloud flow is checked with (§6 items 2-9, §7.10-7.12).

A wildcard endpoint cannot be probed as such: the topology's ``endpoint_samples`` name
concrete hosts for it, else the row is skipped with that advice. HTTPS and CRL checks go
through the component's proxy when there is one (the explicit ``--proxy``, else the
topology's, else HTTPS_PROXY/HTTP_PROXY minus NO_PROXY) and are also tried directly; the
direct row is then informational (``required: false``). AMQP never goes through an HTTP
proxy: agents fall back to 443 instead.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field

from hybridports.plan import PlannedFlow
from hybridports.topology import Proxy, parse_proxy

# Cloud port → probe; any other TCP port gets a handshake only (and says so).
CLOUD_PROBE_FOR_PORT = {443: "https", 80: "crl", 5671: "amqp"}
PROXIED_PORTS = frozenset({80, 443})
WELL_KNOWN_SAMPLES = {
    # §7.10: documented concrete names that stand for a wildcard when no sample is given.
    "*.servicebus.windows.net": ("ssprdedicatedsbprodscu.servicebus.windows.net",),
    "*.msappproxy.net": ("autoupdate.msappproxy.net",),
    "*.microsoftonline.com": ("login.microsoftonline.com",),
}


@dataclass(frozen=True)
class CloudSettings:
    proxy: Proxy | None = None
    proxy_source: str = ""
    no_proxy: tuple[str, ...] = ()
    samples: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self, flow: PlannedFlow) -> tuple[tuple[str, ...], str | None]:
        """The concrete names to test for a cloud row, or a reason to skip it."""
        name = flow.destination
        if not (flow.wildcard or flow.template):
            return (name,), None
        given = self.samples.get(name)
        if given:
            return given, None
        known = WELL_KNOWN_SAMPLES.get(name)
        if known:
            return known, None
        return (), (
            "a wildcard or placeholder cannot be tested as such: name real hosts for it "
            "under endpoint_samples in the topology"
        )

    def proxy_for(self, name: str, port: int) -> Proxy | None:
        if self.proxy is None or port not in PROXIED_PORTS:
            return None
        for pattern in self.no_proxy:
            bare = pattern.lstrip("*.")
            if name == bare or name.endswith("." + bare) or fnmatch.fnmatchcase(name, pattern):
                return None
        return self.proxy


def cloud_settings(
    explicit: str | None, topology_proxy: Proxy | None, samples: dict[str, tuple[str, ...]]
) -> CloudSettings:
    """``--proxy`` wins, then the topology's ``proxy:``, then the environment."""
    no_proxy = tuple(
        p.strip().lower()
        for p in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").split(",")
        if p.strip()
    )
    if explicit:
        return CloudSettings(parse_proxy(explicit), "--proxy", (), samples)
    if topology_proxy is not None:
        return CloudSettings(topology_proxy, "topology", (), samples)
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        value = os.environ.get(variable)
        if value:
            try:
                return CloudSettings(parse_proxy(value), variable, no_proxy, samples)
            except ValueError:
                continue  # a malformed variable is ignored, as curl does
    return CloudSettings(None, "", no_proxy, samples)
