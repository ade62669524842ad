"""The command line: parse options, call one function, print, pick the exit code."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.main import get_command

from hybridports import __version__
from hybridports.catalog import load_catalog
from hybridports.errors import UserError
from hybridports.model import Cloud
from hybridports.plan import plan as make_plan
from hybridports.report import REPORTERS, Document, RenderOptions
from hybridports.topology import load_topology
from hybridports.views import CatalogDocument, PlanDocument

app = typer.Typer(
    name="hybridports",
    help="Plan, probe, render and audit the network flows of a Microsoft hybrid identity "
    "deployment (Entra Connect, AD DS, AD FS/WAP, PTA, Seamless SSO, Cloud Sync, Health).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _format_option(names: tuple[str, ...]) -> Any:
    """A ``--format`` option whose choices come from the report registry."""
    missing = [n for n in names if n not in REPORTERS]
    assert not missing, f"unregistered formats {missing}"

    def check(value: str) -> str:
        if value not in names:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(names)}")
        return value

    return typer.Option(
        "--format", "-f", callback=check, help=f"Output format: {' | '.join(names)}."
    )


TABULAR = ("table", "json", "csv", "markdown")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"hybridports {__version__}")
        raise typer.Exit(0)


VersionOption = Annotated[
    bool,
    typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
    ),
]


@app.callback()
def _root(version: VersionOption = False) -> None:
    """hybridports: the network side of Microsoft hybrid identity, correct the first time."""


def _emit(document: Document, format_name: str) -> None:
    """Render the whole output first, then write it: no partial results on stdout."""
    tty = sys.stdout.isatty()
    width = (
        shutil.get_terminal_size((160, 24)).columns if tty else int(os.environ.get("COLUMNS", 160))
    )
    options = RenderOptions(width=max(width, 80), color=tty and format_name == "table")
    text = REPORTERS[format_name].render(document, options)
    sys.stdout.write(text)
    sys.stdout.flush()


def _warn(lines: tuple[str, ...] | list[str]) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


@app.command()
def catalog(
    format: Annotated[str, _format_option(TABULAR)] = "table",
    cloud: Annotated[
        Cloud | None, typer.Option("--cloud", help="Only the cloud endpoints of this cloud.")
    ] = None,
    version: VersionOption = False,
) -> None:
    """Print every flow the catalog knows, its cloud endpoints and their sources."""
    _emit(CatalogDocument(load_catalog(), cloud), format)


@app.command()
def plan(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).", show_default=False)],
    format: Annotated[str, _format_option(TABULAR)] = "table",
    version: VersionOption = False,
) -> None:
    """Turn a topology into the concrete flows it needs: source, destination, port, why."""
    result = make_plan(load_topology(topology), load_catalog())
    _warn(result.warnings)
    _emit(PlanDocument(result), format)


@app.command()
def probe(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).", show_default=False)],
    source: Annotated[
        str,
        typer.Option("--from", help="The topology host this machine plays.", show_default=False),
    ],
    format: Annotated[str, _format_option(("table", "json"))] = "table",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per check.", min=0.1)] = 3.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Checks in flight at once.", min=1)
    ] = 128,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Only these protocols or probes (repeat, or comma-separate)."),
    ] = None,
    dns_server: Annotated[
        str | None, typer.Option("--dns-server", help="Resolve names through this DNS server.")
    ] = None,
    ca_bundle: Annotated[
        Path | None, typer.Option("--ca-bundle", help="Extra trusted roots (PEM) for TLS checks.")
    ] = None,
    public_ca: Annotated[
        Path | None,
        typer.Option(
            "--public-ca",
            help="Roots that count as the public CAs of the cloud names (PEM), besides the "
            "system store; a chain that validates only through --ca-bundle is reported as "
            "TLS inspection.",
        ),
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option("--proxy", help="Proxy URL for cloud checks (overrides the topology's)."),
    ] = None,
    version: VersionOption = False,
) -> None:
    """Check, from this machine, every planned flow of HOST with a protocol-aware probe."""
    import asyncio

    from hybridports.probe.cloud import cloud_settings
    from hybridports.probe.interface import ProbeContext
    from hybridports.probe.progress import progress_callbacks
    from hybridports.probe.session import probe_from
    from hybridports.views import ProbeDocument

    topo = load_topology(topology)
    if dns_server is not None:
        _check_address(dns_server, "--dns-server")
    if ca_bundle is not None:
        _check_ca_bundle(ca_bundle)
    if public_ca is not None:
        _check_ca_bundle(public_ca)
    if proxy is not None:
        _check_proxy(proxy)
    wanted = {part.strip() for item in (only or []) for part in item.split(",") if part.strip()}
    result = make_plan(topo, load_catalog())
    ctx = ProbeContext(
        timeout=timeout,
        domain=topo.domain,
        dns_server=dns_server,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
        public_ca=str(public_ca) if public_ca else None,
    )
    cloud = cloud_settings(proxy, topo.proxy, topo.endpoint_samples)
    with progress_callbacks(sys.stderr.isatty()) as (on_start, on_done):
        run = asyncio.run(
            probe_from(
                result,
                source,
                ctx,
                concurrency=concurrency,
                only=wanted,
                on_done=on_done,
                on_start=on_start,
                cloud=cloud,
            )
        )
    _emit(ProbeDocument(run), format)
    if run.failing:
        raise typer.Exit(1)


@app.command()
def render(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).", show_default=False)],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Firewall platform.", show_default=False)
    ],
    host: Annotated[
        str | None,
        typer.Option("--host", help="That host's own rules (default: a firewall between hosts)."),
    ] = None,
    required_only: Annotated[
        bool, typer.Option("--required-only", help="Leave optional and advisory flows out.")
    ] = False,
    cloud_egress: Annotated[
        str | None,
        typer.Option("--cloud-egress", help="Cloud names: any | resolve | proxy | tags."),
    ] = None,
    dns_server: Annotated[
        str | None, typer.Option("--dns-server", help="Resolve names through this DNS server.")
    ] = None,
    version: VersionOption = False,
) -> None:
    """Write firewall rules that allow exactly the planned flows, every rule explained."""
    from hybridports.render import RENDERERS
    from hybridports.render.run import render as do_render

    if target not in RENDERERS:
        raise UserError(f"unknown --target {target!r} (expected one of: {', '.join(RENDERERS)})")
    if dns_server is not None:
        _check_address(dns_server, "--dns-server")
    result = make_plan(load_topology(topology), load_catalog())
    text, warnings = do_render(
        result,
        target,
        host=host,
        required_only=required_only,
        cloud_egress=cloud_egress,
        dns_server=dns_server,
    )
    _warn(list(warnings))
    sys.stdout.write(text)
    sys.stdout.flush()


@app.command()
def audit(
    topology: Annotated[Path, typer.Argument(help="Topology file (YAML).", show_default=False)],
    policy: Annotated[
        Path, typer.Option("--policy", help="The policy file to audit.", show_default=False)
    ],
    policy_format: Annotated[
        str,
        typer.Option(
            "--policy-format",
            help="nftables-json | iptables-save | azure-nsg | aws-sg | windows",
            show_default=False,
        ),
    ],
    host: Annotated[
        str | None,
        typer.Option("--host", help="The policy is this host's own (default: between hosts)."),
    ] = None,
    interface: Annotated[
        list[str] | None,
        typer.Option(
            "--interface",
            help="IFNAME=CIDR[,CIDR…]: addresses behind an interface of the audited firewall "
            "(repeat per interface).",
        ),
    ] = None,
    profile: Annotated[
        str,
        typer.Option("--profile", help="Windows Firewall profile: domain | private | public."),
    ] = "domain",
    format: Annotated[str, _format_option(("table", "json", "csv", "markdown", "junit"))] = "table",
    version: VersionOption = False,
) -> None:
    """Say which planned flows an existing firewall policy allows, and what it allows too much."""
    from hybridports.audit.document import AuditDocument
    from hybridports.audit.interface import ParseOptions
    from hybridports.audit.queries import InterfaceMap
    from hybridports.audit.run import audit as do_audit
    from hybridports.audit.run import read_policy

    if profile not in ("domain", "private", "public"):
        raise UserError(f"--profile {profile!r} is not one of: domain, private, public")
    interfaces = InterfaceMap.parse(interface or [])
    result = make_plan(load_topology(topology), load_catalog())
    ruleset = read_policy(policy, policy_format, ParseOptions(windows_profile=profile))
    outcome = do_audit(result, ruleset, host, interfaces)
    _emit(AuditDocument(outcome), format)
    if outcome.failing:
        raise typer.Exit(1)


@app.command()
def merge(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="Result files: probe or audit output (--format json).",
            show_default=False,
            metavar="RESULT.json",
        ),
    ],
    format: Annotated[
        str, _format_option(("table", "json", "markdown", "csv", "junit", "html"))
    ] = "table",
    topology: Annotated[
        Path | None,
        typer.Option(
            "--topology",
            help="The topology the results were made for: checks it, marks hosts not probed, "
            "and writes the exact rules for the failing flows.",
        ),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", "-t", help="Firewall platform for the rules (repeat; default nftables)."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to FILE.")
    ] = None,
    version: VersionOption = False,
) -> None:
    """Combine probe and audit results of many hosts into one readiness matrix."""
    from hybridports.merge import merge as do_merge

    document = do_merge(results, topology, target)
    if output is None:
        _emit(document, format)
    else:
        text = REPORTERS[format].render(document, RenderOptions())
        _write_output(output, text)
        for line in document.summary()[1:3]:
            print(line, file=sys.stderr)
    if not document.matrix.ready:
        raise typer.Exit(1)


def _write_output(path: Path, text: str) -> None:
    """Write whole or not at all: a half-written report must not look like a report."""
    if path.is_dir():
        raise UserError("--output is a directory", file=path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"cannot write --output: {exc.strerror}", file=path) from None


def _check_address(value: str, option: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise UserError(f"{option} {value!r} is not an IP address") from None


def _check_ca_bundle(path: Path) -> None:
    if not path.is_file():
        raise UserError("no such CA bundle file", file=path)
    head = path.read_bytes()[: 1 << 20]
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise UserError("not a PEM certificate bundle (no BEGIN CERTIFICATE)", file=path)


def _check_proxy(value: str) -> None:
    from hybridports.topology import parse_proxy

    try:
        parse_proxy(value)
    except ValueError as exc:
        raise UserError(f"--proxy: {exc}") from None


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: every bad input is one ``error:`` line on stderr and exit code 2."""
    from hybridports.console import utf8_output

    utf8_output()  # Windows writes files and pipes in cp1252, which has no "→"
    command = get_command(app)
    try:
        # Without standalone mode, click returns a command's typer.Exit code instead of raising.
        code = command.main(args=argv, prog_name="hybridports", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        _fail(str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            # A bare command is a request for help, not a mistake.
            typer.echo(context.get_help())
            sys.exit(0)
        _fail(exc.format_message())
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    sys.exit(0)


def _fail(message: str) -> NoReturn:
    text = " ".join(message.split())
    print(f"error: {text}", file=sys.stderr)
    sys.exit(2)
