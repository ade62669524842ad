"""A column diagram as SVG: nodes stacked in titled columns, edges coloured by verdict.

Deterministic (no randomness, coordinates rounded) and built with ElementTree, so every
label is escaped. Edges go from the right side of a node to the left side of a node in a
later column, the other way round for an earlier column, and as an arc on the right for
the same column. Wide fan-outs stay legible because the caller aggregates nodes first.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

NODE_W = 190
NODE_H = 36
GAP_Y = 10
COL_GAP = 150
MARGIN = 20
HEADER = 64  # legend and column titles


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    column: str
    sub: str = ""  # second line: an address or "120 hosts"
    verdict: str | None = None  # colours the border (worst of its edges)
    dashed: bool = False  # e.g. a host that should have been probed and was not
    filter: str = ""  # text the page's table filter gets when the node is clicked
    title: str = ""  # tooltip


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    verdict: str
    count: int
    title: str
    dashed: bool = False
    faint: bool = False


@dataclass(frozen=True)
class Diagram:
    columns: tuple[str, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    colours: dict[str, str]  # verdict → colour, in legend order
    note: str = ""  # e.g. "aggregated by role: 500 hosts"


def render_svg(diagram: Diagram) -> str:
    columns = [c for c in diagram.columns if any(n.column == c for n in diagram.nodes)]
    col_x = {c: MARGIN + i * (NODE_W + COL_GAP) for i, c in enumerate(columns)}
    col_of = {n.id: columns.index(n.column) for n in diagram.nodes}
    place: dict[str, tuple[float, float]] = {}
    rows: dict[str, int] = dict.fromkeys(columns, 0)
    for node in diagram.nodes:
        place[node.id] = (col_x[node.column], HEADER + rows[node.column] * (NODE_H + GAP_Y))
        rows[node.column] += 1
    width = MARGIN * 2 + max(len(columns), 1) * (NODE_W + COL_GAP) - COL_GAP + 60
    height = HEADER + max(rows.values(), default=0) * (NODE_H + GAP_Y) + MARGIN
    svg = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=str(width),
        height=str(height),
        viewBox=f"0 0 {width} {height}",
        role="img",
        id="diagram",
    )
    ET.SubElement(svg, "title").text = "Flows between hosts, coloured by their worst verdict"
    _markers(svg, diagram.colours)
    _legend(svg, diagram)
    for column in columns:
        text = ET.SubElement(
            svg, "text", {"x": str(col_x[column]), "y": str(HEADER - 10), "class": "col"}
        )
        text.text = column
    edges = ET.SubElement(svg, "g", {"class": "edges"})
    biggest = max((e.count for e in diagram.edges), default=1)
    for edge in diagram.edges:
        if edge.source in place and edge.target in place:
            _edge(edges, edge, place, col_of, diagram.colours, biggest)
    nodes = ET.SubElement(svg, "g", {"class": "nodes"})
    for node in diagram.nodes:
        _node(nodes, node, place[node.id], diagram.colours)
    return ET.tostring(svg, encoding="unicode")


def _markers(svg: ET.Element, colours: dict[str, str]) -> None:
    defs = ET.SubElement(svg, "defs")
    for index, colour in enumerate(colours.values()):
        marker = ET.SubElement(
            defs,
            "marker",
            id=f"arrow{index}",
            viewBox="0 0 10 10",
            refX="9",
            refY="5",
            markerWidth="9",
            markerHeight="9",
            markerUnits="userSpaceOnUse",
            orient="auto-start-reverse",
        )
        ET.SubElement(marker, "path", d="M0,0 L10,5 L0,10 z", fill=colour)


def _legend(svg: ET.Element, diagram: Diagram) -> None:
    x = MARGIN
    for verdict, colour in diagram.colours.items():
        ET.SubElement(svg, "rect", x=str(x), y="8", width="12", height="12", rx="2", fill=colour)
        label = ET.SubElement(svg, "text", {"x": str(x + 16), "y": "18", "class": "legend"})
        label.text = verdict
        x += 30 + 7 * len(verdict)
    if diagram.note:
        note = ET.SubElement(svg, "text", {"x": str(x + 12), "y": "18", "class": "legend note"})
        note.text = diagram.note


def _edge(
    parent: ET.Element,
    edge: Edge,
    place: dict[str, tuple[float, float]],
    col_of: dict[str, int],
    colours: dict[str, str],
    biggest: int,
) -> None:
    (sx, sy), (tx, ty) = place[edge.source], place[edge.target]
    sy, ty = sy + NODE_H / 2, ty + NODE_H / 2
    same = col_of[edge.source] == col_of[edge.target]
    if same:
        x = sx + NODE_W
        bulge = 40 + min(abs(ty - sy) / 4, 60)
        d = f"M{x:.0f},{sy:.0f} C{x + bulge:.0f},{sy:.0f} {x + bulge:.0f},{ty:.0f} {x:.0f},{ty:.0f}"
    else:
        forward = col_of[edge.source] < col_of[edge.target]
        x1 = sx + NODE_W if forward else sx
        x2 = tx if forward else tx + NODE_W
        mid = (x1 + x2) / 2
        d = f"M{x1:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ty:.0f} {x2:.0f},{ty:.0f}"
    index = list(colours).index(edge.verdict) if edge.verdict in colours else 0
    weight = 1.5 + 2.5 * math.log1p(edge.count) / math.log1p(biggest)
    attrs = {
        "d": d,
        "fill": "none",
        "stroke": colours.get(edge.verdict, "#888888"),
        "stroke-width": f"{weight:.1f}",
        "marker-end": f"url(#arrow{index})",
        "class": "edge",
        "data-verdict": edge.verdict,
    }
    if edge.dashed:
        attrs["stroke-dasharray"] = "6 4"
    if edge.faint:  # passing edges recede so the failing ones stand out
        attrs["stroke-opacity"] = "0.4"
    path = ET.SubElement(parent, "path", attrs)
    ET.SubElement(path, "title").text = edge.title


def _node(parent: ET.Element, node: Node, at: tuple[float, float], colours: dict[str, str]) -> None:
    x, y = at
    attrs = {"class": "node"}
    if node.filter:  # clicking the node filters the page's table by this text
        attrs |= {"data-filter": node.filter, "tabindex": "0"}
    group = ET.SubElement(parent, "g", attrs)
    ET.SubElement(group, "title").text = node.title or node.label
    rect = {
        "x": f"{x:.0f}",
        "y": f"{y:.0f}",
        "width": str(NODE_W),
        "height": str(NODE_H),
        "rx": "5",
        "fill": "#ffffff",
        "stroke": colours.get(node.verdict or "", "#9aa5b1"),
        "stroke-width": "2",
    }
    if node.dashed:
        rect["stroke-dasharray"] = "5 3"
    ET.SubElement(group, "rect", rect)
    label = ET.SubElement(
        group, "text", {"x": f"{x + 8:.0f}", "y": f"{y + 15:.0f}", "class": "label"}
    )
    label.text = _clip(node.label, 26)
    if node.sub:
        sub = ET.SubElement(
            group, "text", {"x": f"{x + 8:.0f}", "y": f"{y + 29:.0f}", "class": "sub"}
        )
        sub.text = _clip(node.sub, 30)


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
