"""ADWS net.tcp probe (§7.9): record encoding, tiny MC-NMF peers, hostile peers, the lab.

Samba has no ADWS, so 9389 is refused by the lab DC. The `open` and fault cases run against
a tiny peer in the test that reads the preamble record by record (MC-NMF 2.2.3) and answers
as a WCF net.tcp listener does: Upgrade Response (0x0A) for the ADWS Via, a Fault record
(0x08) with the framing fault URI otherwise.
"""

from __future__ import annotations

import asyncio

import pytest

from hybridports.model import Transport
from hybridports.probe.adws import AdwsProbe, encode_size, preamble, via
from hybridports.probe.interface import Outcome, Target, Verdict
from lab import Lab
from tests.peers.local import Handler, close_at_once, replying, run_against_tcp, silent
from tests.probe.conftest import probe_in_client

PROBE = "hybridports.probe.adws:AdwsProbe"
FAULTS = "http://schemas.microsoft.com/ws/2006/05/framing/faults/"


def _target(port: int = 9389, server_name: str | None = None, address: str = "127.0.0.1") -> Target:
    return Target("dc", address, port, Transport.TCP, server_name)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, b"\x00"),
        (0x7F, b"\x7f"),
        (0x80, b"\x80\x01"),
        (300, b"\xac\x02"),
        (0x7FFFFFFF, b"\xff\xff\xff\xff\x07"),
    ],
)
def test_record_size(value: int, wire: bytes) -> None:
    assert encode_size(value) == wire
    with pytest.raises(ValueError):
        encode_size(-1)


def test_preamble_bytes() -> None:
    target = _target(server_name="dc01.lab.hybridports.test")
    uri = b"net.tcp://dc01.lab.hybridports.test:9389/ActiveDirectoryWebServices/Windows/Enumeration"
    assert preamble(target) == (
        b"\x00\x01\x00" + b"\x01\x02" + b"\x02" + bytes([len(uri)]) + uri + b"\x03\x08"
        + b"\x09\x15application/negotiate"
    )  # fmt: skip
    assert via(_target(address="2001:db8:2::10")).startswith("net.tcp://[2001:db8:2::10]:9389/")
    assert via(_target(address="198.18.2.10")).startswith("net.tcp://198.18.2.10:9389/")


async def _read_size(reader: asyncio.StreamReader) -> int:
    value, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value


async def _read_preamble(reader: asyncio.StreamReader) -> dict[str, object]:
    """Parse the preamble as a listener does, asserting each record."""
    assert await reader.readexactly(3) == b"\x00\x01\x00"
    assert await reader.readexactly(2) == b"\x01\x02"
    assert await reader.readexactly(1) == b"\x02"
    uri = (await reader.readexactly(await _read_size(reader))).decode()
    assert await reader.readexactly(2) == b"\x03\x08"
    assert await reader.readexactly(1) == b"\x09"
    upgrade = (await reader.readexactly(await _read_size(reader))).decode()
    return {"via": uri, "upgrade": upgrade}


def _fault(name: str) -> bytes:
    uri = (FAULTS + name).encode()
    return b"\x08" + encode_size(len(uri)) + uri


async def _listener(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A net.tcp listener hosting only the ADWS Enumeration endpoint."""
    seen = await _read_preamble(reader)
    if not str(seen["via"]).endswith("/ActiveDirectoryWebServices/Windows/Enumeration"):
        writer.write(_fault("EndpointNotFound"))
    elif seen["upgrade"] != "application/negotiate":
        writer.write(_fault("UpgradeInvalid"))
    else:
        writer.write(b"\x0a")
        await writer.drain()
        # A real listener now waits for the SPNEGO token; the probe must close instead.
        assert await reader.read() == b""
    writer.close()


async def _other_service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A net.tcp listener (port sharing) where ADWS is not registered."""
    await _read_preamble(reader)
    writer.write(_fault("EndpointNotFound"))
    await writer.drain()
    await reader.read()
    writer.close()


async def _against(handler: Handler, server_name: str | None = None) -> Outcome:
    return await run_against_tcp(AdwsProbe(), handler, server_name=server_name)


def test_adws_listener_is_open() -> None:
    outcome = asyncio.run(_against(_listener, server_name="dc01.lab.hybridports.test"))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail.startswith("ADWS endpoint accepts Windows authentication")
    assert str(outcome.facts["via"]).startswith("net.tcp://dc01.lab.hybridports.test:")


def test_net_tcp_without_adws_is_an_error() -> None:
    outcome = asyncio.run(_against(_other_service))
    assert outcome.verdict is Verdict.ERROR
    assert "net.tcp listener, but not the ADWS endpoint: EndpointNotFound" in outcome.detail
    assert outcome.facts["fault"] == FAULTS + "EndpointNotFound"


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        (replying(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "not a .NET Message Framing record"),
        (replying(b"\x0b"), "Preamble Ack"),
        (replying(b"\x08\xff\xff\xff\xff\xff\xff", close=False), "longer than 5 bytes"),
        (replying(b"\x08\xff\xff\x7f", close=False), "fault record"),  # 2 MB fault
        (replying(b"\x08\x40" + b"http://schemas"), "closed mid-reply"),  # truncated
        (replying(b"\x08\x02\xff\xfe"), "not UTF-8"),
        (close_at_once, "closed the connection"),
        (silent, "no ADWS (net.tcp) reply within"),
    ],
)
def test_hostile_peers_are_errors(handler: Handler, words: str) -> None:
    outcome = asyncio.run(_against(handler))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail


@pytest.mark.peers
@pytest.mark.parametrize("address", ["198.18.2.10", "2001:db8:2::10"])
def test_samba_dc_has_no_adws(lab: Lab, address: str) -> None:
    outcome = probe_in_client(
        lab, PROBE, address, 9389, "tcp", "--server-name", "dc01.lab.hybridports.test"
    )
    assert outcome["verdict"] == "closed", outcome["detail"]
