"""The `crosstrack` command line (typer).

Errors a user can cause print one clear line plus a hint and exit non-zero, never a traceback:
exit 2 for bad input (config, arguments), 1 for a failure of the work itself.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from sync.config import ConfigError, load_config
from sync.settings import Settings

if TYPE_CHECKING:
    from sync.engine import RunSummary
    from sync.runtime import Runtime

app = typer.Typer(
    name="crosstrack",
    help="One live model of a program's work across Jira and GitHub.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
config_app = typer.Typer(help="The config file (sources, teams, programs).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")

err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)

DEMO_DIR = Path(".crosstrack")


class UserError(Exception):
    """An error the user can fix: printed as one line plus a hint."""

    def __init__(self, message: str, hint: str | None = None, code: int = 2) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


def _fail(message: str, hint: str | None = None, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    if hint:
        err.print(f"[dim]hint:[/] {hint}")
    raise typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.load(**overrides)
    except ConfigError as exc:
        raise UserError(str(exc).splitlines()[0], "check the CROSSTRACK_* environment variables") from None


def _migrate(url: str) -> None:
    from sync.db import upgrade
    from sync.tasks import apply_job_schema

    try:
        upgrade(url)
        if url.startswith("postgresql"):
            apply_job_schema(url)  # procrastinate's own tables, for `crosstrack worker`
    except Exception as exc:
        raise UserError(
            f"cannot migrate the database {_redact(url)}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
            "check CROSSTRACK_DATABASE_URL and that the database server is running",
            code=1,
        ) from None


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


# ------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the database in CROSSTRACK_DATABASE_URL (default: ./crosstrack.db)."""
    settings = _settings()
    _migrate(settings.database_url)
    out.print(f"database {_redact(settings.database_url)} is at the newest schema")


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="The config file (TOML or YAML).")]) -> None:
    """Validate a config file; print every problem with its place, exit 2 when there is one."""
    try:
        config = load_config(file)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err.print(f"[bold red]error:[/] {line}", soft_wrap=True)
        err.print("[dim]hint:[/] see examples/crosstrack.toml for a complete, commented example")
        raise typer.Exit(2) from None
    out.print(f"{file}: ok ({config.summary()})")


@token_app.command("create")
def token_create(
    role: Annotated[
        str, typer.Option(help="viewer (read), editor (change programs, trigger syncs) or admin.")
    ] = "viewer",
    name: Annotated[str, typer.Option(help="A note to tell tokens apart.")] = "",
) -> None:
    """Create an API token and print it alone on the last line (`TOKEN=$(crosstrack token create)`)."""
    from sync.db import make_engine, make_sessionmaker, session_scope
    from sync.model import Role
    from sync.tokens import create_token

    try:
        wanted = Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r}", "use one of: viewer, editor, admin") from None
    settings = _settings()
    _migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        token = create_token(session, wanted, name)
    engine.dispose()
    err.print(f"created a {wanted.value} token; it is shown once, store it now:")
    print(token)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: CROSSTRACK_HOST or 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: CROSSTRACK_PORT or 8000].")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file to load [default: CROSSTRACK_CONFIG_FILE]."),
    ] = None,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
) -> None:
    """Serve the API (and, in single-node mode, the scheduler and workers)."""
    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if config:
        overrides["config_file"] = config
    settings = _settings(**overrides)
    _serve(settings, migrate=migrate)


def _serve(settings: Settings, *, migrate: bool, banner: str | None = None) -> None:
    import uvicorn

    from api.app import create_app

    if settings.config_file and Path(settings.config_file).exists():
        try:
            load_config(Path(settings.config_file))
        except ConfigError as exc:
            raise UserError(
                str(exc).splitlines()[0], f"run `crosstrack config check {settings.config_file}`"
            ) from None
    elif settings.config_file and config_was_explicit(settings):
        raise UserError(
            f"{settings.config_file}: no such file", "pass --config FILE or set CROSSTRACK_CONFIG_FILE"
        )
    if migrate:
        _migrate(settings.database_url)
    application = create_app(settings, background=True)
    print(f"crosstrack API on http://{settings.host}:{settings.port}  (docs: /docs)")
    if banner:
        print(banner, flush=True)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning")


def config_was_explicit(settings: Settings) -> bool:
    return "CROSSTRACK_CONFIG_FILE" in os.environ or settings.config_file != Path("crosstrack.toml")


DEMO_ENV = {
    "CROSSTRACK_JIRA_TOKEN": "sandbox-token",
    "CROSSTRACK_GITHUB_TOKEN": "sandbox-token",
    "CROSSTRACK_JIRA_WEBHOOK_SECRET": "demo-webhook-secret",
    "CROSSTRACK_GITHUB_WEBHOOK_SECRET": "demo-webhook-secret",
}


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    sandbox_port: Annotated[int, typer.Option(help="Sandbox port (the example config expects 8765).")] = 8765,
    config: Annotated[Path, typer.Option(help="Config file.")] = Path("examples/crosstrack.toml"),
    activity: Annotated[
        bool, typer.Option(help="Let the sandbox make edits that arrive as webhooks.")
    ] = True,
) -> None:
    """The whole product on your machine: the tracker sandbox, a first sync into SQLite, the API."""
    import subprocess
    import time
    import urllib.request

    from sync.model import Role
    from sync.tokens import create_token

    for key, value in DEMO_ENV.items():
        os.environ.setdefault(key, value)
    DEMO_DIR.mkdir(exist_ok=True)
    db_path = (DEMO_DIR / "demo.db").resolve()
    for leftover in DEMO_DIR.glob("demo.db*"):
        leftover.unlink()  # the sandbox starts from its seed each time: so does the demo's model
    db_url = f"sqlite:///{db_path}"

    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    hooks = [
        f"--webhook=github=http://127.0.0.1:{port}/webhooks/github/github",
        f"--webhook=jira=http://127.0.0.1:{port}/webhooks/jira/jira",
    ]
    cmd = [
        sys.executable,
        "-m",
        "crosstrack",
        "sandbox",
        "--port",
        str(sandbox_port),
        *hooks,
        "--webhook-secret",
        os.environ["CROSSTRACK_GITHUB_WEBHOOK_SECRET"],
    ]
    if activity:
        cmd += ["--activity", "--activity-interval", "5"]
    log_file = (DEMO_DIR / "sandbox.log").open("w")
    sandbox_proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{sandbox_url}/healthz", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                if sandbox_proc.poll() is not None or time.monotonic() > deadline:
                    raise UserError(
                        f"the sandbox did not start on port {sandbox_port} (see {DEMO_DIR / 'sandbox.log'})",
                        "is another program using that port? pass --sandbox-port and adjust the config",
                        code=1,
                    ) from None
                time.sleep(0.3)
        out.print(
            f"sandbox: Jira {sandbox_url}/jira, GitHub {sandbox_url}/github/api/v3 (log: {DEMO_DIR / 'sandbox.log'})"
        )
        runtime = _runtime(config, database_url=db_url, port=port)
        results = _run_syncs(runtime, runtime.source_names(), full=True, reconcile=False)
        _print_summary(results)
        with runtime.sessions.begin() as session:
            token = create_token(session, Role.VIEWER, "demo viewer")
        _demo_reports(runtime)
        runtime.close()
        settings = _settings(database_url=db_url, config_file=config, port=port)
        banner = (
            f"viewer token: {token}\n"
            f"try:  curl -H 'Authorization: Bearer {token}' http://{settings.host}:{port}/api/v1/programs\n"
            + ("sandbox edits arrive as webhooks every few seconds; " if activity else "")
            + "press Ctrl-C to stop"
        )
        _serve(settings, migrate=False, banner=banner)
    finally:
        sandbox_proc.terminate()
        try:
            sandbox_proc.wait(10)
        except subprocess.TimeoutExpired:
            sandbox_proc.kill()
        log_file.close()


def _demo_reports(runtime: Runtime) -> None:
    """The first status report of each program: headline on screen, Markdown under .crosstrack/reports/."""
    from sync.views.report import write_report_file

    for program in runtime.config.programs if runtime.config else []:
        with runtime.sessions.begin() as session:
            headline, path = write_report_file(session, program.slug, DEMO_DIR / "reports")
        out.print(f"[bold]{headline}[/]")
        out.print(f"  first status report: {path}")


def _runtime(config: Path | None, **overrides: object) -> Runtime:
    from sync.runtime import Runtime

    if config is not None:
        overrides["config_file"] = config
    settings = _settings(**overrides)
    path = settings.config_file
    if path is None or not Path(path).exists():
        raise UserError(
            f"{path or 'no config file'}: no such file",
            "pass --config FILE or set CROSSTRACK_CONFIG_FILE (see examples/crosstrack.toml)",
        )
    try:
        runtime = Runtime.build(settings)
    except ConfigError as exc:
        raise UserError(str(exc).splitlines()[0], f"run `crosstrack config check {path}`") from None
    _migrate(settings.database_url)
    runtime.load_catalog()
    return runtime


@app.command()
def sync(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Sync only this source (repeatable) [default: all]."),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything instead of changes since the last run.")
    ] = False,
    reconcile: Annotated[
        bool, typer.Option("--reconcile", help="Also look for deleted and moved items.")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file [default: CROSSTRACK_CONFIG_FILE].")
    ] = None,
) -> None:
    """Sync sources now, with live progress; exit 1 when any source failed (the others still run)."""
    runtime = _runtime(config)
    names = source or runtime.source_names()
    unknown = sorted(set(names) - set(runtime.source_names()))
    if unknown:
        raise UserError(
            f"unknown source(s): {', '.join(unknown)}", f"known: {', '.join(runtime.source_names())}"
        )
    results = _run_syncs(runtime, names, full=full, reconcile=reconcile)
    runtime.close()
    _print_summary(results)
    if any(not r.ok for r in results):
        err.print(
            "[dim]hint:[/] the other sources were synced; fix the cause and run `crosstrack sync` again"
        )
        raise typer.Exit(1)


def _run_syncs(runtime: Runtime, names: list[str], *, full: bool, reconcile: bool) -> list[RunSummary]:
    """Sync the sources in parallel (one thread each) with a live progress line per source."""
    from concurrent.futures import ThreadPoolExecutor

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    engine = runtime.sync_engine()
    results: list[RunSummary] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[source]:<12}"),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:>8.0f} items"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        tasks = {
            n: progress.add_task("full sync" if full else "incremental", total=None, source=n) for n in names
        }

        def on_progress(name: str, seen: int) -> None:
            progress.update(tasks[name], completed=seen)

        def run(name: str) -> list[RunSummary]:
            done = [engine.sync(name, full=full, progress=on_progress)]
            if reconcile and done[0].ok:
                progress.update(tasks[name], description="reconcile")
                done.append(engine.reconcile(name))
            final = "[green]done" if all(r.ok for r in done) else "[red]failed"
            progress.update(
                tasks[name], description=final, total=done[0].written.seen, completed=done[0].written.seen
            )
            return done

        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            for summaries in pool.map(run, names):
                results.extend(summaries)
    return results


def _print_summary(results: list[RunSummary]) -> None:
    from rich.table import Table

    table = Table(title="sync summary", title_justify="left")
    for col in (
        "source",
        "kind",
        "status",
        "seen",
        "created",
        "updated",
        "stale",
        "deleted",
        "links",
        "requests",
        "304s",
        "waits",
        "seconds",
    ):
        table.add_column(col, justify="right" if col not in ("source", "kind", "status") else "left")
    for r in results:
        table.add_row(
            r.source,
            r.kind,
            "[green]ok" if r.ok else "[red]failed",
            str(r.written.seen),
            str(r.written.created),
            str(r.written.updated),
            str(r.written.stale),
            str(r.deleted),
            str(r.written.links),
            str(r.requests),
            str(r.not_modified),
            str(r.rate_limit_waits),
            f"{r.seconds:.1f}",
        )
    out.print(table)
    for r in results:
        if not r.ok:
            err.print(f"[bold red]error:[/] {r.source} ({r.kind}): {r.error}")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once by this process.")] = 4,
    stalled_after: Annotated[
        float,
        typer.Option(help="Seconds without a heartbeat after which a worker's job is given to another."),
    ] = 30.0,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file [default: CROSSTRACK_CONFIG_FILE].")
    ] = None,
) -> None:
    """Run background work (syncs, webhook inbox, schedules) for a scaled-out install on PostgreSQL."""
    from sync.tasks import bind_runtime

    runtime = _runtime(config)
    if runtime.engine.dialect.name != "postgresql":
        raise UserError(
            "crosstrack worker needs PostgreSQL",
            "set CROSSTRACK_DATABASE_URL=postgresql://...; on SQLite `crosstrack serve` runs the work itself",
        )
    jobs = bind_runtime(runtime, stalled_after=stalled_after)
    err.print(f"worker: {concurrency} at once, sources: {', '.join(runtime.source_names())}")
    jobs.run_worker(
        concurrency=concurrency,
        update_heartbeat_interval=max(0.5, stalled_after / 3),
        stalled_worker_timeout=stalled_after,
        wait=True,
        install_signal_handlers=True,
    )


@app.command()
def report(
    program: Annotated[str, typer.Argument(help="The program's slug, e.g. checkout-v2.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, html or json.")] = "md",
    period_days: Annotated[int, typer.Option(help="The reporting period, in days.")] = 7,
    store: Annotated[
        bool, typer.Option(help="Keep it in the report history (the next report diffs against it).")
    ] = True,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file [default: CROSSTRACK_CONFIG_FILE].")
    ] = None,
) -> None:
    """Print a program's status report for the period (from the synced model; no tracker call)."""
    if fmt not in ("md", "html", "json"):
        raise UserError(f"unknown format {fmt!r}", "use --format md, html or json")
    runtime = _runtime(config) if (config or Path(_settings().config_file or "").exists()) else None
    settings = runtime.settings if runtime else _settings()
    if runtime is None:
        _migrate(settings.database_url)
    from sync.db import make_engine, make_sessionmaker

    engine = runtime.engine if runtime else make_engine(settings.database_url)
    with make_sessionmaker(engine).begin() as session:
        print(_render_report(session, program, fmt, period_days, store, settings.stale_after_minutes))
    engine.dispose()


def _render_report(
    session: object, slug: str, fmt: str, period_days: int, store: bool, stale_after: int
) -> str:
    from sync.views.common import ProgramNotFound
    from sync.views.report import generate_report, render

    try:
        content = generate_report(session, slug, period_days, store=store, stale_after_minutes=stale_after)  # type: ignore[arg-type]
    except ProgramNotFound:
        raise UserError(
            f"no program named {slug!r}", "list them with GET /api/v1/programs, or see the config file"
        ) from None
    return render(content, fmt)  # type: ignore[arg-type]


@app.command()
def sandbox(
    port: Annotated[
        int, typer.Option(help="Port; Jira answers under /jira, GitHub under /github/api/v3.")
    ] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    seed: Annotated[str, typer.Option(help="Data set: 'demo' (the Checkout v2 organization).")] = "demo",
    items: Annotated[int, typer.Option(help="Instead of the demo: N generated items, half per tracker.")] = 0,
    activity: Annotated[
        bool, typer.Option(help="Random edits every few seconds, delivered as webhooks.")
    ] = False,
    activity_interval: Annotated[float, typer.Option(help="Seconds between random edits.")] = 2.0,
    flavour: Annotated[str, typer.Option(help="Jira flavour: cloud or datacenter.")] = "cloud",
    timezone: Annotated[
        str, typer.Option(help="Time zone of the Jira account (JQL dates are read in it).")
    ] = "America/New_York",
    webhook: Annotated[
        list[str] | None,
        typer.Option(
            help="Deliver webhooks: TRACKER=URL (jira or github); repeatable. Secret from --webhook-secret."
        ),
    ] = None,
    webhook_secret: Annotated[
        str, typer.Option(envvar="CROSSTRACK_SANDBOX_WEBHOOK_SECRET", help="HMAC secret for --webhook.")
    ] = "sandbox-webhook-secret",  # noqa: S107 - the sandbox's documented demo secret
) -> None:
    """Run the tracker sandbox: a local Jira and GitHub with demo data (credentials: token `sandbox-token`)."""
    from sandbox.core import SandboxConfig
    from sandbox.server import serve as serve_sandbox

    if seed != "demo" and not items:
        raise UserError(f"unknown seed {seed!r}", "use --seed demo, or --items N for generated data")
    if flavour not in ("cloud", "datacenter"):
        raise UserError(f"unknown Jira flavour {flavour!r}", "use --flavour cloud or --flavour datacenter")
    targets: list[tuple[str, str, str]] = []
    for spec in webhook or []:
        tracker, _, url = spec.partition("=")
        if tracker not in ("jira", "github") or not url.startswith(("http://", "https://")):
            raise UserError(
                f"bad --webhook {spec!r}", "use --webhook github=http://HOST:PORT/webhooks/github/NAME"
            )
        targets.append((tracker, url, webhook_secret))
    common: dict[str, object] = {
        "activity": activity,
        "activity_interval": activity_interval,
        "jira_flavour": flavour,
        "jira_timezone": timezone,
        "webhook_targets": targets,
    }
    config = SandboxConfig.with_items(items, **common) if items else SandboxConfig(**common)  # type: ignore[arg-type]
    print(
        f"sandbox: Jira at http://{host}:{port}/jira, GitHub at http://{host}:{port}/github/api/v3",
        flush=True,
    )
    print(
        "credentials: GitHub token 'sandbox-token'; Jira user 'tpm@example.com', API token 'sandbox-token'",
        flush=True,
    )
    serve_sandbox(config, host, port, log_level="warning")


def main() -> None:
    from sync.logs import configure_logging

    configure_logging(os.environ.get("CROSSTRACK_LOG_LEVEL", "WARNING"))
    try:
        app()
    except UserError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}")
        sys.exit(exc.code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        logging.getLogger("crosstrack.cli").debug("cli.crashed", exc_info=True)
        err.print(
            f"[bold red]error:[/] internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
        err.print("[dim]hint:[/] run again with CROSSTRACK_LOG_LEVEL=DEBUG for the details, and report it")
        sys.exit(1)


if __name__ == "__main__":
    main()
