"""``hybridports merge``: many probe and audit result files → one readiness matrix.

load (read and check the files) → build (cells, gaps from the plan) → changes (the firewall
change per failing flow) → MergeDocument (every report format, HTML included).
"""

from __future__ import annotations

from pathlib import Path

from hybridports.catalog import load_catalog
from hybridports.errors import UserError
from hybridports.merge.build import build_matrix
from hybridports.merge.changes import changes_for, check_targets
from hybridports.merge.document import MergeDocument
from hybridports.merge.load import ResultFile, load_results
from hybridports.plan import Plan
from hybridports.plan import plan as make_plan
from hybridports.provenance import topology_digest


def merge(
    paths: list[Path], topology: Path | None = None, targets: list[str] | None = None
) -> MergeDocument:
    chosen = check_targets(targets or [])
    if targets and topology is None:
        raise UserError("--target needs --topology: the exact rules are written from the plan")
    files = load_results(paths)
    catalog = load_catalog()
    plan: Plan | None = None
    if topology is not None:
        from hybridports.topology import load_topology

        topo = load_topology(topology)
        _check_digest(files, topo.name, topology_digest(topo), topology)
        plan = make_plan(topo, catalog)
    matrix = build_matrix(files, catalog, plan)
    return MergeDocument(matrix, changes_for(matrix, plan, chosen))


def _check_digest(files: list[ResultFile], name: str, digest: str, path: Path) -> None:
    for item in files:
        if item.digest != digest:
            raise UserError(
                f"written for topology {item.topology!r} (digest {item.digest[:12]}), not for "
                f"--topology {path} ({name!r}, digest {digest[:12]}): re-run it with this "
                "topology, or give the topology it was made with",
                file=item.path,
            )


__all__ = ["MergeDocument", "merge"]
