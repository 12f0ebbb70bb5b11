"""``serve(config, host, port)``: run the sandbox in the foreground (the ``crosstrack sandbox`` command).

The ``--activity`` random walk runs as an asyncio task in the app's lifespan (``sandbox.app``), so it
shares the event loop with the handlers and never races them.
"""

from __future__ import annotations

import dataclasses
import json
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
    """``python -m sandbox.server --port 8900 [--items N] [--activity] [--flavour datacenter] [--faults JSON]``."""
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
    parser.add_argument(
        "--faults", default="{}", help='initial faults as JSON, e.g. \'{"truncate": {"jira": 3}}\''
    )
    parser.add_argument("--webhook", action="append", default=[], help="TRACKER=URL (repeatable)")
    parser.add_argument("--webhook-secret", default="sandbox-webhook-secret")
    parser.add_argument("--webhook-workers", type=int, default=1, help="sender threads (1 keeps order)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    try:
        faults = json.loads(args.faults)
    except json.JSONDecodeError as error:
        parser.error(f"--faults is not JSON: {error}")
    targets = []
    for spec in args.webhook:
        tracker, _, url = spec.partition("=")
        if tracker not in ("jira", "github") or not url.startswith(("http://", "https://")):
            parser.error(f"--webhook {spec!r}: expected jira=URL or github=URL")
        targets.append((tracker, url, args.webhook_secret))
    common = {
        "activity": args.activity,
        "activity_interval": args.activity_interval,
        "jira_flavour": args.flavour,
        "latency_ms": args.latency_ms,
        "faults": faults,
        "webhook_targets": targets,
        "webhook_workers": args.webhook_workers,
    }
    config = SandboxConfig.with_items(args.items, **common) if args.items else SandboxConfig(**common)
    serve(config, args.host, args.port, args.log_level)


if __name__ == "__main__":
    main()
