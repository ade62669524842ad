"""The cloud side's names and PKI, made with PyYAML and ``cryptography``.

Run as a script by lab/cloud.py with a Python that has both (the project's venv), never
imported by the lab itself (the lab's own code is standard library only)::

    python cloudpki.py names  CATALOG --clouds public,usgov            # JSON on stdout
    python cloudpki.py build  CATALOG OUTDIR --clouds ... --crl-url ... --root-crl-url ...
                              --ca-issuers-url ... --ip ... --ip6 ...
    python cloudpki.py crl    OUTDIR --days N                         # re-sign the CRLs

``build`` writes into OUTDIR (a fresh directory):

    names.json             concrete names, wildcards (``*.x.y``) and their apexes
    public-root.pem/.key   "hybridports lab public root" (stands in for DigiCert/Microsoft roots)
    intermediate.pem/.key  the issuing CA (CDP: the root's CRL)
    intermediate.crt       the issuing CA in DER, served at the leaf's CA Issuers URL
    server.pem/.key        the web/AMQP server certificate: SAN = every name, wildcard and
                           apex, plus the cloud addresses; CDP and AIA CA Issuers set
    server-chain.pem       server + intermediate (what nginx and the AMQP peer send)
    intermediate.crl       CRL of the issuing CA (DER; one revoked serial), at the CDP URL
    root.crl               CRL of the root (DER), at the intermediate's CDP URL
    mitm-ca.pem            mitmproxy's CA: key + certificate (mitmproxy's confdir format)
    mitm-ca-cert.pem       its certificate alone
    pki.json               validity facts (not_after of the server cert, CRL next update)

Only APIs present in cryptography 38 (Debian 12) and later are used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCHEMES = ("https://", "http://")
ORG = "hybridports lab"


# --------------------------------------------------------------------------- names
def host_of(printed: str) -> str:
    """The host of a catalog string: no scheme, path, :port or trailing dot/slash; ``**.`` is
    ``*.``."""
    text = printed.strip()
    for scheme in SCHEMES:
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    text = text.split("/", 1)[0]
    text = re.sub(r":\d+$", "", text)
    text = text.rstrip(".").lower()
    while text.startswith("**."):
        text = "*." + text[3:]
    return text


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _valid(name: str) -> bool:
    return len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def catalog_names(catalog: Path, clouds: list[str]) -> dict[str, list[str]]:
    import yaml  # only this sub-command needs it

    data = yaml.safe_load(catalog.read_text(encoding="utf-8"))
    concrete: set[str] = set()
    wildcards: set[str] = set()
    skipped: set[str] = set()
    for entry in data.get("endpoints", []):
        if entry.get("cloud") not in clouds:
            continue
        for item in entry.get("hosts", []) or []:
            if isinstance(item, str):
                printed, explicit, template = item, None, False
            else:
                printed, explicit = item["printed"], item.get("host")
                template = bool(item.get("template"))
            if template:  # a placeholder such as tenantid.registration...: not a name
                skipped.add(str(printed))
                continue
            for name in (host_of(str(printed)), host_of(explicit) if explicit else None):
                if not name:
                    continue
                if name.startswith("*."):
                    if _valid(name[2:]):
                        wildcards.add(name)
                    else:
                        skipped.add(name)
                elif _valid(name):
                    concrete.add(name)
                else:
                    skipped.add(name)
    apexes = {w[2:] for w in wildcards}
    return {
        "clouds": clouds,
        "concrete": sorted(concrete),
        "wildcards": sorted(wildcards),
        "apexes": sorted(apexes),
        "skipped": sorted(skipped),
    }


# --------------------------------------------------------------------------- PKI
def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # noqa: UP017 (cryptography 38 / py3.11 both fine)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, unit: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US")]
    parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG))
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(parts)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _cdp(url: str) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None, reasons=None, crl_issuer=None,
    )  # fmt: skip
    return x509.CRLDistributionPoints([point])


def _aia(url: str) -> x509.AuthorityInformationAccess:
    issuers = x509.oid.AuthorityInformationAccessOID.CA_ISSUERS
    return x509.AuthorityInformationAccess(
        [x509.AccessDescription(issuers, x509.UniformResourceIdentifier(url))]
    )


def _ski(key: Any) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _aki(issuer_key: Any) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())


def _write_key(path: Path, key: Any) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _crl(
    issuer: x509.Certificate, key: Any, days: float, revoked_serials: list[int]
) -> tuple[bytes, dt.datetime]:
    now = _now()
    next_update = now + dt.timedelta(days=days)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - dt.timedelta(hours=1))
        .next_update(next_update)
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(_aki(key), critical=False)
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(days=1))
            .build()
        )
    crl = builder.sign(key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER), next_update


def _ca(
    subject: x509.Name,
    key: Any,
    issuer: x509.Certificate | None,
    issuer_key: Any,
    days: int,
    path_length: int | None,
    cdp: str | None = None,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_ski(key), critical=False)
        .add_extension(_aki(issuer_key), critical=False)
    )
    if cdp:
        builder = builder.add_extension(_cdp(cdp), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def build(args: argparse.Namespace) -> None:
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    names = catalog_names(Path(args.catalog), args.clouds.split(","))
    (out / "names.json").write_text(json.dumps(names, indent=2))

    # Root -> intermediate -> server, as with the real Microsoft/DigiCert chains.
    root_key = _key()
    root = _ca(_name("hybridports lab public root", "public PKI stand-in"), root_key,
               None, root_key, 3650, None)  # fmt: skip
    inter_key = _key()
    inter = _ca(_name("hybridports lab public intermediate", "public PKI stand-in"),
                inter_key, root, root_key, 1825, 0, cdp=args.root_crl_url)  # fmt: skip

    now = _now()
    dns = (
        names["concrete"]
        + names["wildcards"]
        + [a for a in names["apexes"] if a not in names["concrete"]]
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in (args.ip, args.ip6) if a]
    server_key = _key()
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(args.cn))
        .issuer_name(inter.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=args.server_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(_ski(server_key), critical=False)
        .add_extension(_aki(inter_key), critical=False)
        .add_extension(_cdp(args.crl_url), critical=False)
        .add_extension(_aia(args.ca_issuers_url), critical=False)
        .sign(inter_key, hashes.SHA256())
    )

    # mitmproxy's own CA (its confdir format: key and certificate in one PEM).
    mitm_key = _key()
    mitm = _ca(_name("hybridports lab intercepting proxy CA", "TLS inspection"),
               mitm_key, None, mitm_key, 3650, None)  # fmt: skip

    for name, key in (("public-root", root_key), ("intermediate", inter_key),
                      ("server", server_key)):  # fmt: skip
        _write_key(out / f"{name}.key", key)
    (out / "public-root.pem").write_bytes(_pem(root))
    (out / "intermediate.pem").write_bytes(_pem(inter))
    (out / "intermediate.crt").write_bytes(inter.public_bytes(serialization.Encoding.DER))
    (out / "server.pem").write_bytes(_pem(server))
    (out / "server-chain.pem").write_bytes(_pem(server) + _pem(inter))
    fd = os.open(out / "mitm-ca.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            mitm_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            + _pem(mitm)
        )
    (out / "mitm-ca-cert.pem").write_bytes(_pem(mitm))
    facts = {
        "server_not_after": int((now + dt.timedelta(days=args.server_days)).timestamp()),
        "server_serial": server.serial_number,
        "san_count": len(sans),
    }
    (out / "pki.json").write_text(json.dumps(facts, indent=2))
    sign_crls(out, args.crl_days)


def sign_crls(out: Path, days: float) -> None:
    """(Re)sign both CRLs with their CAs' keys; record the next update in pki.json."""
    load = x509.load_pem_x509_certificate

    def key(name: str) -> Any:
        return serialization.load_pem_private_key((out / f"{name}.key").read_bytes(), None)

    root = load((out / "public-root.pem").read_bytes())
    inter = load((out / "intermediate.pem").read_bytes())
    # One revoked (made-up) serial, so the CRL is not empty.
    inter_crl, next_update = _crl(inter, key("intermediate"), days, [0x1AB5])
    root_crl, _ = _crl(root, key("public-root"), days, [])
    (out / "intermediate.crl").write_bytes(inter_crl)
    (out / "root.crl").write_bytes(root_crl)
    facts_path = out / "pki.json"
    facts = json.loads(facts_path.read_text()) if facts_path.exists() else {}
    facts["crl_next_update"] = int(next_update.timestamp())
    facts_path.write_text(json.dumps(facts, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudpki.py")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_names = sub.add_parser("names")
    p_names.add_argument("catalog")
    p_names.add_argument("--clouds", default="public,usgov")
    p_build = sub.add_parser("build")
    p_build.add_argument("catalog")
    p_build.add_argument("outdir")
    p_build.add_argument("--clouds", default="public,usgov")
    p_build.add_argument("--crl-url", required=True)
    p_build.add_argument("--root-crl-url", required=True)
    p_build.add_argument("--ca-issuers-url", required=True)
    p_build.add_argument("--cn", default="login.microsoftonline.com")
    p_build.add_argument("--ip", default="")
    p_build.add_argument("--ip6", default="")
    p_build.add_argument("--server-days", type=int, default=397)
    p_build.add_argument("--crl-days", type=float, default=7)
    p_crl = sub.add_parser("crl")
    p_crl.add_argument("outdir")
    p_crl.add_argument("--days", type=float, default=7)
    args = parser.parse_args(argv)
    if args.cmd == "names":
        json.dump(catalog_names(Path(args.catalog), args.clouds.split(",")), sys.stdout, indent=2)
        print()
    elif args.cmd == "build":
        build(args)
    else:
        sign_crls(Path(args.outdir), args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
