"""Differential test against the Linux kernel (issue 7, "Proof of correctness").

Generated nftables and iptables rulesets are loaded into a firewall namespace; for every
sample the evaluator's verdict (through our parser, from the kernel's own listing) must equal
what the kernel did with a real packet. Any disagreement is saved to corpus/ by itself and
replayed on every later run, with or without root.

HP_KERNEL_EXAMPLES=N runs N rulesets per format instead of the default 300; the run is
reproducible (derandomized) unless HP_KERNEL_RANDOM=1 asks for fresh examples. The counts go
to the terminal summary ("kernel differential, …").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridports.audit.evaluate import Evaluator
from tests.audit.kernel import corpus
from tests.audit.kernel.differential import (
    STATS,
    Smallest,
    Stats,
    parse,
    run_case,
    verdict,
)
from tests.audit.kernel.generate import Case, iptables_cases, nft_cases
from tests.audit.kernel.netns import KernelNet, iptables_unavailable_reason

EXAMPLES = int(os.environ.get("HP_KERNEL_EXAMPLES", "300"))
DERANDOMIZE = os.environ.get("HP_KERNEL_RANDOM") != "1"


def _differential(net: KernelNet, strategy: st.SearchStrategy[Case], name: str) -> None:
    stats = STATS.setdefault(name, Stats())
    smallest = Smallest()

    @settings(
        max_examples=EXAMPLES,
        derandomize=DERANDOMIZE,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def check(case: Case) -> None:
        run = run_case(net, case, stats)
        if run.mismatches():
            smallest.offer(run)
            raise AssertionError(run.describe())

    try:
        check()
    except BaseException as exc:
        if smallest.run is not None:  # "keep a corpus of the cases that once disagreed"
            exc.add_note(f"saved to the corpus: {corpus.save_found(smallest.run)}")
        raise


@pytest.mark.peers
def test_nftables_verdicts_equal_the_kernel(kernel_net: KernelNet) -> None:
    _differential(kernel_net, nft_cases(), "nftables")


@pytest.mark.peers
def test_iptables_verdicts_equal_the_kernel(kernel_net: KernelNet) -> None:
    reason = iptables_unavailable_reason()
    if reason:
        pytest.skip(reason)
    _differential(kernel_net, iptables_cases(), "iptables")


# --- corpus ---------------------------------------------------------------------------------


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _settle_open(entry: corpus.Entry, disagrees: bool) -> None:
    """An ``open`` case is expected to disagree (xfail) until fixed; then it must say so."""
    if entry.open and disagrees:
        pytest.xfail(f"open bug: {entry.open}")
    if entry.open:
        pytest.fail(f'{entry.path.name} agrees now: remove its "open" key ({entry.open})')


@pytest.mark.parametrize("path", corpus.entries(), ids=_ids(corpus.entries()))
def test_corpus_offline(path: Path) -> None:
    """The recorded listing, parsed and evaluated, gives the recorded kernel verdicts."""
    entry = corpus.load(path)
    assert entry.readback is not None, f"{path.name}: run tests/audit/kernel/record.py on it"
    assert all(v is not None for v in entry.kernel.values()), f"{path.name}: not recorded"
    evaluator = Evaluator(parse(entry.case.format, entry.readback))
    wrong = [
        f"{s.protocol} {s.source}:{s.sport} -> {s.destination}:{s.dport}: "
        f"kernel {entry.kernel[s]}, evaluator {ours}"
        for s in entry.case.samples
        if (ours := verdict(evaluator, s)) != entry.kernel[s]
        and not (ours == "unknown" and entry.case.exotic)
    ]
    _settle_open(entry, bool(wrong))
    assert not wrong, f"{path.name} ({entry.title}):\n" + "\n".join(wrong)


@pytest.mark.peers
@pytest.mark.parametrize("path", corpus.entries(), ids=_ids(corpus.entries()))
def test_corpus_in_the_kernel(kernel_net: KernelNet, path: Path) -> None:
    """Loaded again: the kernel still does what was recorded, and the evaluator agrees."""
    entry = corpus.load(path)
    if entry.case.format == "iptables" and (reason := iptables_unavailable_reason()):
        pytest.skip(reason)
    run = run_case(kernel_net, entry.case, STATS.setdefault("corpus", Stats()))
    changed = [r.sample for r in run.results if r.kernel != entry.kernel[r.sample]]
    assert not changed, f"{path.name}: the kernel no longer does what was recorded for {changed}"
    _settle_open(entry, bool(run.mismatches()))
    assert not run.mismatches(), f"{path.name} ({entry.title}):\n{run.describe()}"
