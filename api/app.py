"""The FastAPI application factory.

``create_app(settings)`` wires the database, loads the config file into it (idempotently), and
mounts the routes. Routes are thin: queries live in ``sync/`` repository and view modules.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine

from api.errors import install_error_handlers
from api.metrics import install_metrics
from api.routes import catalog, health, tokens, webhooks
from api.routes import items as items_routes
from api.routes import programs as programs_routes
from api.routes import sources as sources_routes
from api.routes import views as views_routes
from sync.catalog import apply_config
from sync.db import make_engine, make_sessionmaker, session_scope
from sync.inbox import InboxIntake
from sync.runtime import Runtime
from sync.scheduler import BackgroundRunner
from sync.settings import Settings
from sync.tasks import build_app, defer_inbox

__all__ = ["create_app"]

log = logging.getLogger("crosstrack.api")

DESCRIPTION = """
crosstrack keeps one live model of a program's work across Jira and GitHub.

Authenticate with `Authorization: Bearer <token>` (create one with `crosstrack token create --role viewer`).
Roles: **viewer** reads, **editor** changes programs and triggers syncs, **admin** manages the install.
Every error answers in one shape: `{"error": {"status", "code", "message", "details"}}`.
"""


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    load_config_file: bool = True,
    runtime: Runtime | None = None,
    background: bool = False,
) -> FastAPI:
    """``background=True`` runs the single-node scheduler and inbox worker inside this process."""
    engine = engine or make_engine(settings.database_url)
    if runtime is None and settings.config_file is not None and Path(settings.config_file).exists():
        runtime = Runtime.build(settings, engine=engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if load_config_file and runtime is not None and runtime.config is not None:
            with session_scope(app.state.sessionmaker) as session:
                report = apply_config(session, runtime.config)
            log.info(
                "api.config_loaded", extra={"file": str(settings.config_file), "programs": report.programs}
            )
        runner = None
        jobs = None
        if settings.run_mode == "scaled":
            jobs = build_app(settings.database_url)
            jobs.open()
            app.state.jobs = jobs
            # The inbox job is deferred in the intake's transaction: it commits with the rows or not.
            app.state.intake.defer = lambda session: defer_inbox(jobs, session)
        elif background and runtime is not None:
            runner = BackgroundRunner(
                runtime,
                sync_interval=settings.sync_interval_seconds,
                reconcile_interval=settings.reconcile_interval_seconds,
            )
            app.state.inbox_wakeup = runner.wakeup
            app.state.intake.on_stored = runner.wakeup.set
            app.state.runner = runner
            runner.start()
        yield
        app.state.intake.stop()  # what was accepted is committed; later deliveries get 503
        if runner is not None:
            runner.stop()
        if jobs is not None:
            jobs.close()
        engine.dispose()

    app = FastAPI(
        title="crosstrack",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.runtime = runtime
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.intake = InboxIntake(app.state.sessionmaker)
    install_error_handlers(app)
    install_metrics(app)
    app.include_router(health.router)
    app.include_router(catalog.router)
    app.include_router(tokens.router)
    app.include_router(webhooks.router)
    app.include_router(programs_routes.router)
    app.include_router(views_routes.router)
    app.include_router(items_routes.router)
    app.include_router(sources_routes.router)
    return app
