"""A real crosstrack API (uvicorn on a loopback port) whose connectors point at a sandbox world."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from api.app import create_app
from connectors.base import Connector
from sync.runtime import Runtime
from sync.settings import Settings
from tests.e2e.conftest import ENV, EXAMPLE, World


class WorldRuntime(Runtime):
    """The production Runtime, but connectors come from the test world (sandbox base URLs)."""

    world: World

    def connector_for(self, name: str) -> Connector:
        return self.world.connector_for(name)


@dataclass
class Intake:
    url: str
    runtime: WorldRuntime


@contextmanager
def serving_intake(world: World, *, background: bool = False) -> Iterator[Intake]:
    settings = Settings.from_env(
        {}, database_url=world.url, config_file=str(EXAMPLE), sync_interval_seconds=3600
    )
    runtime = WorldRuntime(
        settings=settings, config=world.config, engine=world.engine, sessions=world.sessions, env=ENV
    )
    runtime.world = world
    app = create_app(
        settings, engine=world.engine, runtime=runtime, background=background, load_config_file=False
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("intake server did not start")
        time.sleep(0.01)
    try:
        yield Intake(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
