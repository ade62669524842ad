"""JUnit XML: one test case per required flow, so CI pipelines can gate a change on it.

Suites group the cases (one per source host or per policy); a failing case carries the
one-line reason as ``message`` and the evidence as the failure body. Written with
ElementTree, so every value is escaped; output is deterministic (no timestamps).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hybridports.errors import UserError
from hybridports.report.interface import Document, RenderOptions, Reporter, TestCase


class JUnitReporter(Reporter):
    name = "junit"
    media_type = "application/xml"

    def render(self, document: Document, options: RenderOptions) -> str:
        cases_of = getattr(document, "test_cases", None)
        if cases_of is None:
            raise UserError("--format junit is not available for this command")
        cases: list[TestCase] = cases_of()
        suites: dict[str, list[TestCase]] = {}
        for case in cases:
            suites.setdefault(case.suite, []).append(case)
        root = ET.Element("testsuites", name="hybridports")
        _counts(root, cases)
        for suite_name, members in suites.items():
            suite = ET.SubElement(root, "testsuite", name=suite_name)
            _counts(suite, members)
            for case in members:
                element = ET.SubElement(
                    suite, "testcase", name=case.name, classname=case.classname, time="0"
                )
                if case.skipped is not None:
                    ET.SubElement(element, "skipped", message=case.skipped)
                elif case.failure is not None:
                    failure = ET.SubElement(
                        element, "failure", message=case.failure, type="FlowNotAllowed"
                    )
                    failure.text = case.detail or case.failure
                elif case.detail:
                    ET.SubElement(element, "system-out").text = case.detail
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _counts(element: ET.Element, cases: list[TestCase]) -> None:
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(1 for c in cases if c.failure and c.skipped is None)))
    element.set("errors", "0")
    element.set("skipped", str(sum(1 for c in cases if c.skipped is not None)))
