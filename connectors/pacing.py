"""Request pacing shared by the connectors: never send a request before a tracker's wait expires.

Both trackers tell us when we may come back (Jira ``Retry-After`` / ``X-RateLimit-Reset``, GitHub
``retry-after`` / ``x-ratelimit-reset``). The vendor SDKs' own retries are not enough (``jira``
caps its wait at 60 s with jitter; PyGithub surfaces 429 as a plain exception), so every request a
connector sends first passes :meth:`Pacer.wait`, and every rate-limit answer calls
:meth:`Pacer.defer_until`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Pacer"]

log = logging.getLogger("crosstrack.connectors.pacing")


class Pacer:
    """A per-token gate: ``wait()`` blocks until the latest ``defer_until`` instant has passed.

    ``clock`` returns the current UTC time and ``sleep`` sleeps; both are injectable so tests can
    run without real waiting while still checking that no request is released early.
    """

    def __init__(
        self,
        name: str,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep or time.sleep
        self._not_before: datetime | None = None
        self._reason: str | None = None
        self._lock = threading.Lock()
        self.waits = 0
        self.waited_seconds = 0.0

    @property
    def not_before(self) -> datetime | None:
        return self._not_before

    def defer_until(self, instant: datetime, reason: str) -> None:
        """No request may leave before ``instant`` (UTC). Later instants win over earlier ones."""
        if instant.tzinfo is None:
            raise ValueError("defer_until needs an aware datetime")
        with self._lock:
            if self._not_before is None or instant > self._not_before:
                self._not_before = instant
                self._reason = reason

    def wait(self) -> float:
        """Block until requests may be sent again; return the seconds waited (0.0 when free)."""
        total = 0.0
        while True:
            with self._lock:
                target, reason = self._not_before, self._reason
            if target is None:
                return total
            remaining = (target - self._clock()).total_seconds()
            if remaining <= 0:
                with self._lock:
                    if self._not_before == target:
                        self._not_before = None
                        self._reason = None
                return total
            if total == 0.0:
                self.waits += 1
                log.warning(
                    "connector.ratelimit.wait",
                    extra={"source": self.name, "seconds": round(remaining, 3), "reason": reason},
                )
            # Sleep a hair longer than asked: a request sent at exactly the instant may still be refused.
            step = remaining + 0.01
            self._sleep(step)
            total += step
            self.waited_seconds += step
