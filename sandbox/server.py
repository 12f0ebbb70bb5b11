"""``serve(config, host, port)``: run the sandbox in the foreground (the ``crosstrack sandbox`` command).

The ``--activity`` random walk runs as an asyncio task in the app's lifespan (``sandbox.app``), so it
shares the event loop with the handlers and never races them.
"""

from __future__ import annotations

import dataclasses
import logging

import uvicorn

from sandbox.app import create_app
from sandbox.core import SandboxConfig

__all__ = ["serve"]


def serve(
    config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 8900, log_level: str = "info"
) -> None:
    """Blocking. Payload URLs point at ``http://{host}:{port}`` unless ``config.base_url`` says otherwise."""
    config = config or SandboxConfig()
    if config.base_url is None:
        public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - comparing, not binding
        config = dataclasses.replace(config, base_url=f"http://{public_host}:{port}")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(message)s")
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


def main() -> None:
    """``python -m sandbox.server --port 8900 [--items N] [--activity] [--flavour datacenter]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", default="demo", choices=["demo"])
    parser.add_argument("--items", type=int, default=0, help="scale seed with N items (half per tracker)")
    parser.add_argument("--activity", action="store_true")
    parser.add_argument("--activity-interval", type=float, default=2.0)
    parser.add_argument("--flavour", default="cloud", choices=["cloud", "datacenter"])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    common = {
        "activity": args.activity,
        "activity_interval": args.activity_interval,
        "jira_flavour": args.flavour,
        "latency_ms": args.latency_ms,
    }
    config = SandboxConfig.with_items(args.items, **common) if args.items else SandboxConfig(**common)
    serve(config, args.host, args.port, args.log_level)


if __name__ == "__main__":
    main()
