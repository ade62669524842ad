"""AMQP 1.0 over TLS probe (§7.12): a tiny AMQP peer behind TLS made here, frames encoded by
hand (AMQP 1.0 §2.3, §1.6, §5.3.3.1), wrong headers, and the TLS checks shared with HTTPS."""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import pytest

from hybridports.probe.amqp import SASL_HEADER, AmqpProbe, parse_header, parse_mechanisms
from hybridports.probe.interface import Outcome, Verdict
from hybridports.probe.net import BadReply
from tests.peers.local import Handler, replying, run_against_tcp, silent
from tests.peers.pki import Ca

NAME = "ssprdedicatedsbprodscu.servicebus.cloud.test"
SERVICE_BUS = ["MSSBCBS", "ANONYMOUS", "PLAIN", "EXTERNAL"]


def sym8(value: str) -> bytes:
    return bytes([len(value)]) + value.encode()


def array8_of_symbols(values: list[str]) -> bytes:
    elements = b"".join(sym8(v) for v in values)
    content = bytes([len(values), 0xA3]) + elements
    return bytes([0xE0, len(content)]) + content


def array32_of_symbols(values: list[str]) -> bytes:
    elements = b"".join(struct.pack("!I", len(v)) + v.encode() for v in values)
    content = struct.pack("!I", len(values)) + b"\xb3" + elements
    return b"\xf0" + struct.pack("!I", len(content)) + content


def sasl_frame(field: bytes, descriptor: bytes = b"\x00\x53\x40", kind: int = 1) -> bytes:
    """A SASL frame: header (size, doff 2, type, channel 0) and a described list of one field."""
    body = descriptor + bytes([0xC0, len(field) + 1, 1]) + field
    return struct.pack("!IBBH", 8 + len(body), 2, kind, 0) + body


MECHANISMS_FRAME = sasl_frame(array8_of_symbols(SERVICE_BUS))


class Pki:
    def __init__(self, directory: Path) -> None:
        self.root = Ca.root(directory, "HP Test Public Root G1")
        self.issuing = self.root.intermediate("HP Test TLS CA 01")
        self.public_ca = self.root.pem_file("public-ca")
        inspection = Ca.root(directory, "Contoso Inspection Root", "Contoso")
        self.inspection = inspection.intermediate("Contoso Inspection CA")
        self.ca_bundle = inspection.pem_file("enterprise")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("amqp-pki"))


def amqp_peer(*parts: bytes, hold: bool = False) -> Handler:
    """Reads the 8-byte header, checks it is the SASL one, then writes ``parts``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readexactly(8)
            assert header == SASL_HEADER
            for part in parts:
                writer.write(part)
                await writer.drain()
            if hold:
                await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return handler


def amqp(
    pki: Pki, handler: Handler, ca: Ca | None = None, timeout: float = 1.5, **settings: object
) -> Outcome:
    issuing = ca or pki.issuing
    context = issuing.server_context(issuing.leaf([NAME]))
    settings.setdefault("public_ca", pki.public_ca)
    return asyncio.run(run_against_tcp(AmqpProbe(), handler, timeout, NAME, context, **settings))


def test_service_bus_like_peer_is_open_with_its_mechanisms(pki: Pki) -> None:
    outcome = amqp(pki, amqp_peer(SASL_HEADER, MECHANISMS_FRAME))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert outcome.detail.startswith("Service Bus reachable on ")
    assert (
        ": AMQP 1.0 (SASL) answered, mechanisms MSSBCBS, ANONYMOUS, PLAIN, EXTERNAL; TLS 1.3"
        in (outcome.detail)
    )
    assert outcome.detail.endswith(f"{NAME} issued by HP Test TLS CA 01")
    facts = outcome.facts
    assert facts["sasl_mechanisms"] == SERVICE_BUS
    assert facts["amqp_protocol"] == "SASL" and facts["amqp_version"] == "1.0.0"
    assert facts["tls_version"] == "TLSv1.3" and facts["root"].startswith("CN=HP Test Public Root")


def test_header_then_close_is_still_open(pki: Pki) -> None:
    outcome = amqp(pki, amqp_peer(SASL_HEADER))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert "AMQP 1.0 (SASL) answered, then the connection closed before sasl-mechanisms" in (
        outcome.detail
    )


def test_header_then_silence_is_open_within_the_timeout(pki: Pki) -> None:
    started = time.monotonic()
    outcome = amqp(pki, amqp_peer(SASL_HEADER, hold=True), timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert "AMQP 1.0 (SASL) answered, no sasl-mechanisms frame in time" in outcome.detail


def test_undecodable_sasl_frame_is_reported_but_the_header_proves_amqp(pki: Pki) -> None:
    outcome = amqp(pki, amqp_peer(SASL_HEADER, sasl_frame(b"\x71\x00\x00\x00\x01")))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert "then a SASL frame that does not decode (a field of type 0x71, not symbols)" in (
        outcome.detail
    )


def test_a_different_amqp_1_0_header_still_proves_amqp(pki: Pki) -> None:
    outcome = amqp(pki, amqp_peer(b"AMQP\x00\x01\x00\x00"))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert ": AMQP 1.0 answered with the AMQP header instead of SASL;" in outcome.detail
    assert outcome.facts["amqp_protocol"] == "AMQP"


def test_amqp_0_9_1_broker_is_an_error(pki: Pki) -> None:
    outcome = amqp(pki, amqp_peer(b"AMQP\x00\x00\x09\x01"))
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith(
        "but the server answered an AMQP 0.9.1 header (41 4d 51 50 00 00 09 01), not AMQP 1.0: "
        "not Service Bus"
    )


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "but not an AMQP protocol header (48 54 54 50"),
        (b"AMQX\x03\x01\x00\x00", "but not an AMQP protocol header (41 4d 51 58"),
        (b"AMQ", "but the server closed the connection after 41 4d 51 instead of an AMQP header"),
        (b"", "but the server closed the connection instead of an AMQP header"),
    ],
)
def test_wrong_answers_over_tls_are_errors(pki: Pki, reply: bytes, words: str) -> None:
    outcome = amqp(pki, amqp_peer(reply))
    assert outcome.verdict is Verdict.ERROR
    assert words in outcome.detail, outcome.detail


def test_tls_peer_that_never_answers_the_header(pki: Pki) -> None:
    started = time.monotonic()
    outcome = amqp(pki, amqp_peer(hold=True), timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail.endswith("but no answer to the AMQP header within 1s: not AMQP")


def test_intercepted_tls_is_an_error_as_for_https(pki: Pki) -> None:
    outcome = amqp(pki, amqp_peer(SASL_HEADER), ca=pki.inspection, ca_bundle=pki.ca_bundle)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.detail == (
        "intercepted: chain ends in Contoso Inspection Root, trusted only through --ca-bundle "
        "(TLS inspection by Contoso Inspection CA?)"
    )


def test_plain_amqp_without_tls_is_an_error() -> None:
    outcome = asyncio.run(
        run_against_tcp(AmqpProbe(), replying(b"AMQP\x03\x01\x00\x00"), 1.0, NAME)
    )
    assert outcome.verdict is Verdict.ERROR
    assert "answered, but not TLS: wrong_version_number (first bytes 41 4d 51 50" in outcome.detail


def test_tcp_peer_that_never_speaks_tls() -> None:
    outcome = asyncio.run(run_against_tcp(AmqpProbe(), silent, 1.0, NAME))
    assert outcome.verdict is Verdict.ERROR
    assert "no answer to the TLS ClientHello" in outcome.detail


def test_header_parsing() -> None:
    assert parse_header(SASL_HEADER) == (3, (1, 0, 0))
    assert parse_header(b"AMQP\x00\x01\x00\x00") == (0, (1, 0, 0))
    for bad in (b"", b"AMQP\x03\x01\x00", b"HTTP/1.1", b"amqp\x03\x01\x00\x00"):
        with pytest.raises(BadReply):
            parse_header(bad)


def test_mechanisms_in_every_encoding() -> None:
    assert parse_mechanisms(MECHANISMS_FRAME) == SERVICE_BUS
    assert parse_mechanisms(sasl_frame(array32_of_symbols(["PLAIN"]))) == ["PLAIN"]
    assert parse_mechanisms(sasl_frame(b"\xa3" + sym8("EXTERNAL"))) == ["EXTERNAL"]
    named = b"\x00\xa3" + sym8("amqp:sasl-mechanisms:list")
    assert parse_mechanisms(sasl_frame(array8_of_symbols(["ANONYMOUS"]), named)) == ["ANONYMOUS"]
    ulong = b"\x00\x80" + struct.pack("!Q", 0x40)
    assert parse_mechanisms(sasl_frame(array8_of_symbols(["PLAIN"]), ulong)) == ["PLAIN"]


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        MECHANISMS_FRAME[:12],
        sasl_frame(array8_of_symbols(["PLAIN"]), kind=0),  # an AMQP frame, not SASL
        sasl_frame(array8_of_symbols(["PLAIN"]), b"\x00\x53\x41"),  # sasl-init
        sasl_frame(b"\xe0\x03\x01\x71\x00"),  # an array of int
        struct.pack("!IBBH", 11, 2, 1, 0) + b"\x00\x53\x40\x45"[:3],
        struct.pack("!IBBH", 12, 2, 1, 0) + b"\x00\x53\x40\x45",  # list0
        struct.pack("!IBBH", 12, 9, 1, 0) + b"\x00\x53\x40\x45",  # doff past the end
        MECHANISMS_FRAME[:-3],
    ],
)
def test_malformed_sasl_frames(frame: bytes) -> None:
    with pytest.raises(BadReply):
        parse_mechanisms(frame)


# Recorded from Qpid Proton 0.40 (a real AMQP 1.0 server, over TLS): the SASL header, then a
# sasl-mechanisms frame offering ANONYMOUS as an array8 of one sym8.
PROTON_REPLY = bytes.fromhex(
    "414d5150030100000000001c02010000005340c00f01e00c01a309414e4f4e594d4f5553"
)


def test_recorded_qpid_proton_reply() -> None:
    assert parse_header(PROTON_REPLY[:8]) == (3, (1, 0, 0))
    assert parse_mechanisms(PROTON_REPLY[8:]) == ["ANONYMOUS"]


def test_recorded_qpid_proton_reply_from_a_peer(pki: Pki) -> None:
    outcome = amqp(pki, amqp_peer(PROTON_REPLY, hold=True))
    assert outcome.verdict is Verdict.OPEN, outcome.detail
    assert "AMQP 1.0 (SASL) answered, mechanisms ANONYMOUS; TLS 1.3" in outcome.detail
