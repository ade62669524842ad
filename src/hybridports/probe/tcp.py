"""Fallback for a TCP port without a protocol probe: the handshake, and it says so."""

from __future__ import annotations

from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import Unreachable, connect_tcp


class TcpProbe(Probe):
    name = "tcp"
    description = "TCP handshake only (no protocol exchange for this service)"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        try:
            stream = await connect_tcp(target.address, target.port, ctx.timeout)
        except Unreachable as exc:
            return exc.outcome
        await stream.close()
        return Outcome.open(
            f"TCP handshake completed on {target.port}; only a handshake was tested "
            "(no protocol check for this service)",
            handshake_only=True,
        )
