"""DNS over UDP and over TCP (RFC 1035, RFC 7766), each transport on its own (§7.1).

dnspython builds and parses the messages; the socket is ours (net.py) so that silence, a
reset and an ICMP error from a firewall are told apart the same way as for every probe.
"""

from __future__ import annotations

import struct

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from hybridports.model import Transport
from hybridports.probe.interface import Outcome, Probe, ProbeContext, Target
from hybridports.probe.net import BadReply, Stream, tcp_check, udp_check


def _query(ctx: ProbeContext, target: Target) -> dns.message.QueryMessage:
    if ctx.domain:
        name, kind = f"_ldap._tcp.dc._msdcs.{ctx.domain}", dns.rdatatype.SRV
    elif target.server_name:
        name, kind = target.server_name, dns.rdatatype.A
    else:
        name, kind = ".", dns.rdatatype.SOA
    return dns.message.make_query(name, kind, want_dnssec=False)


def _judge(query: dns.message.QueryMessage, wire: bytes, ctx: ProbeContext) -> Outcome:
    try:
        reply = dns.message.from_wire(wire, ignore_trailing=True)
    except (dns.exception.DNSException, ValueError) as exc:
        raise BadReply(f"not a DNS message ({type(exc).__name__})") from None
    if not query.is_response(reply):
        raise BadReply(f"a DNS message that does not answer the query (id {reply.id})")
    question = query.question[0]
    rcode = dns.rcode.to_text(reply.rcode())
    facts: dict[str, object] = {
        "query": f"{question.name} {dns.rdatatype.to_text(question.rdtype)}"
    }
    facts["rcode"] = rcode
    answers = [rr for rrset in reply.answer for rr in rrset]
    if reply.flags & dns.flags.TC:
        return Outcome.open(
            f"DNS server answered {facts['query']} (truncated over UDP: TCP 53 is needed too)",
            **facts,
        )
    if question.rdtype == dns.rdatatype.SRV:
        targets = sorted(
            {str(rr.target).rstrip(".") for rr in answers if rr.rdtype == dns.rdatatype.SRV}
        )
        facts["srv_targets"] = targets
        if rcode == "NOERROR" and targets:
            return Outcome.open(
                f"DNS server answered {facts['query']}: "
                f"{len(targets)} DC(s): {', '.join(targets[:4])}",
                **facts,
            )
        return Outcome.open(
            f"DNS server answered, but {facts['query']} gave {rcode} with no SRV record: "
            "this server does not hold the AD zone",
            **facts,
        )
    return Outcome.open(f"DNS server answered {facts['query']} with {rcode}", **facts)


class DnsProbe(Probe):
    name = "dns"
    description = "DNS query (SRV _ldap._tcp.dc._msdcs.<domain>), UDP and TCP separately"

    async def check(self, target: Target, ctx: ProbeContext) -> Outcome:
        query = _query(ctx, target)
        wire = query.to_wire()
        if target.transport is Transport.UDP:
            return await udp_check(target, ctx, "DNS", wire, lambda data: _judge(query, data, ctx))

        async def exchange(stream: Stream) -> Outcome:
            await stream.send(struct.pack("!H", len(wire)) + wire)
            (length,) = struct.unpack("!H", await stream.read_exactly(2))
            return _judge(query, await stream.read_exactly(length), ctx)

        return await tcp_check(target, ctx, "DNS", exchange)
