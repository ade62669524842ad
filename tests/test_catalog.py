"""The catalog: complete against the specification, consistent, and shaped as the interface says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hybridports.catalog import load_catalog, normalise_name
from hybridports.model import Cloud, PortRange, Role, Transport
from tests.clirunner import run
from tests.conftest import ROOT

SPEC = ROOT.parent / "shared" / "spec" / "requirements.md"
_ROW = re.compile(r"^\| (T\d[ab]?-[A-Z]?\d+|S-\d+|P-\d+|SSO-\d+|C-\d+|H-\d+|F-\d+|B-\d+) \|", re.M)

# Every row id of the specification (tables 1-7b and section 3), fixed here so the test does
# not depend on the specification file being present.
SPEC_IDS = (
    [f"T1-{i:02d}" for i in range(1, 11)]
    + ["T2-01", "T2-02", "T3-01", "T3-02", "T3-03", "T4-01", "T5-01", "T5-02"]
    + ["T6a-01", "T6a-02", "T6a-03", "T6b-01", "T6b-02", "T7a-01", "T7a-02"]
    + [f"T7b-P{i:02d}" for i in range(1, 16)]
    + [f"T7b-G{i:02d}" for i in range(1, 14)]
    + [f"S-{i:02d}" for i in range(1, 15)]
    + [f"P-{i:02d}" for i in range(1, 9)]
    + ["SSO-01", "SSO-02"]
    + [f"C-{i:02d}" for i in range(1, 7)]
    + [f"H-{i:02d}" for i in range(1, 5)]
    + [f"F-{i:02d}" for i in range(1, 12)]
    + [f"B-{i:02d}" for i in range(1, 11)]
)


@pytest.fixture(scope="module")
def catalog_json() -> dict[str, list[dict[str, object]]]:
    result = run("catalog", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_spec_id_list_matches_the_specification() -> None:
    if not SPEC.exists():
        pytest.skip(f"specification not found at {SPEC}")
    assert sorted(_ROW.findall(SPEC.read_text(encoding="utf-8"))) == sorted(SPEC_IDS)


def test_every_spec_row_is_in_the_catalog() -> None:
    catalog = load_catalog()
    placed = {
        s for record in (*catalog.flows, *catalog.endpoints, *catalog.facts) for s in record.spec
    }
    assert sorted(set(SPEC_IDS) - placed) == []


def test_every_record_has_a_source_reference() -> None:
    catalog = load_catalog()
    for record in (*catalog.flows, *catalog.endpoints):
        assert record.reference.startswith("https://"), record.id
        assert record.section, record.id
    for fact in catalog.facts:
        assert fact.reference is None or fact.reference.startswith("https://"), fact.id


def test_all_unclear_points_are_decided() -> None:
    catalog = load_catalog()
    assert [u.id for u in catalog.unclear] == [f"U{i}" for i in range(1, 25)]
    assert all(len(u.decision) > 20 for u in catalog.unclear)


def test_named_interface_ids_exist() -> None:
    catalog = load_catalog()
    ldap = catalog.flow("connect-dc-ldap-tcp")
    assert (ldap.source, ldap.destination, ldap.transport, ldap.ports) == (
        Role.CONNECT,
        Role.DC,
        Transport.TCP,
        PortRange(389, 389),
    )
    rpc = catalog.flow("connect-dc-rpc-dynamic")
    assert rpc.ports == PortRange(49152, 65535) and rpc.rpc_dynamic


def test_odd_rows_keep_their_oddity() -> None:
    catalog = load_catalog()
    # N1: LDAPS is TCP only; the printed "TCP/UDP" stays in the record.
    assert not [f for f in catalog.flows if f.transport is Transport.UDP and f.ports.low == 636]
    ldaps = [f for f in catalog.flows if "T1-06" in f.spec]
    assert ldaps and all(f.printed and "UDP" in f.printed and f.note for f in ldaps)
    # N4: 5985/9389 towards DCs only with adfs-gmsa-install.
    for spec_id in ("T1-08", "T1-09"):
        (flow,) = [f for f in catalog.flows if spec_id in f.spec]
        assert flow.features == ("adfs-gmsa-install",), flow.id
    # N12: 5671 is optional, required with legacy agents.
    amqp = [f for f in catalog.flows if "T7a-01" in f.spec]
    assert amqp and all(not f.level.required and "legacy-agents" in f.required_with for f in amqp)
    # N3: the dynamic range is marked as replaceable by the topology's range.
    assert all(f.note for f in catalog.flows if f.rpc_dynamic)


def test_dns_and_kerberos_have_both_transports() -> None:
    catalog = load_catalog()
    for spec_id in ("T1-01", "T1-02", "T1-04"):
        transports = {f.transport for f in catalog.flows if spec_id in f.spec}
        assert transports == {Transport.TCP, Transport.UDP}, spec_id


def test_health_endpoints_per_cloud() -> None:
    catalog = load_catalog()
    for prefix, cloud, count in (("T7b-P", Cloud.PUBLIC, 15), ("T7b-G", Cloud.USGOV, 13)):
        ids = {s for e in catalog.endpoints_for(cloud) for s in e.spec if s.startswith(prefix)}
        assert len(ids) == count, (cloud, sorted(ids))
    assert not [e for e in catalog.endpoints_for(Cloud.CHINA) if e.feature == "health-agent"]


def test_irregular_names_are_normalised() -> None:
    assert normalise_name("**.servicebus.windows.net")["host"] == "*.servicebus.windows.net"
    assert normalise_name("*.adhybridhealth.azure.com/")["host"] == "*.adhybridhealth.azure.com"
    assert normalise_name("https://login.windows.net") == {
        "host": "login.windows.net",
        "path": None,
        "implied_port": 443,
    }
    assert normalise_name("www.microsoft.com/pkiops") == {
        "host": "www.microsoft.com",
        "path": "/pkiops",
        "implied_port": None,
    }
    assert normalise_name("mscrl.microsoft.us:80")["implied_port"] == 80
    catalog = load_catalog()
    printed = {e.printed: e for e in catalog.endpoints}
    assert printed["**.servicebus.windows.net"].host == "*.servicebus.windows.net"
    assert printed["*.crl3.digicert.com"].wildcard_apex


def test_every_endpoint_links_to_a_cloud_flow() -> None:
    catalog = load_catalog()
    for endpoint in catalog.endpoints:
        for role in endpoint.sources:
            flow = catalog.flow(catalog.endpoint_flow[(endpoint.id, role)])
            assert flow.destination is Role.ENTRA and flow.source is role


def test_catalog_json_shape(catalog_json: dict[str, list[dict[str, object]]]) -> None:
    flow_keys = {
        "id", "source", "destination", "protocol", "transport", "ports", "features",
        "condition", "purpose", "reference", "note", "phase",
    }  # fmt: skip
    for flow in catalog_json["flows"]:
        assert flow_keys <= flow.keys()
        assert flow["phase"] in ("install", "runtime", "always")
        low, high = flow["ports"]  # type: ignore[misc]
        assert 0 < low <= high <= 65535
    endpoint_keys = {"feature", "cloud", "host", "transport", "ports", "purpose", "reference"}
    for endpoint in catalog_json["endpoints"]:
        assert endpoint_keys <= endpoint.keys()
        assert endpoint["cloud"] in ("public", "usgov", "china")


def test_cloud_filter() -> None:
    result = run("catalog", "--format", "json", "--cloud", "usgov")
    clouds = {e["cloud"] for e in json.loads(result.stdout)["endpoints"]}
    assert clouds == {"usgov"}


def test_broken_catalog_entry_names_file_line_and_entry(tmp_path: Path) -> None:
    source = ROOT / "src" / "hybridports" / "catalog"
    for name in ("flows.yaml", "endpoints.yaml", "facts.yaml", "unclear.yaml"):
        (tmp_path / name).write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
    flows = (tmp_path / "flows.yaml").read_text(encoding="utf-8")
    broken = flows.replace("transport: tcp", "transport: sctp", 1)
    (tmp_path / "flows.yaml").write_text(broken, encoding="utf-8")
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "sctp" in text)
    from hybridports.errors import UserError

    with pytest.raises(UserError) as info:
        load_catalog.__wrapped__(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'flows.yaml'}:{line}: ")
    assert "transport" in message
