"""Render targets. To add one: a module with a Renderer subclass, and one line in RENDERERS."""

from __future__ import annotations

from hybridports.render.aerleon import JuniperSrxRenderer, PaloAltoRenderer
from hybridports.render.aws_sg import AwsSgRenderer
from hybridports.render.azure_nsg import AzureNsgRenderer
from hybridports.render.interface import Rendered, Renderer, RenderError, RenderOptions, RuleSet
from hybridports.render.iptables import Ip6tablesRenderer, IptablesRenderer
from hybridports.render.nftables import NftablesRenderer
from hybridports.render.rules import rules_for
from hybridports.render.windows import WindowsRenderer

RENDERERS: dict[str, Renderer] = {
    renderer.name: renderer
    for renderer in (
        NftablesRenderer(),
        IptablesRenderer(),
        Ip6tablesRenderer(),
        WindowsRenderer(),
        AzureNsgRenderer(),
        AwsSgRenderer(),
        JuniperSrxRenderer(),
        PaloAltoRenderer(),
    )
}

__all__ = [
    "RENDERERS",
    "RenderError",
    "RenderOptions",
    "Rendered",
    "Renderer",
    "RuleSet",
    "rules_for",
]
