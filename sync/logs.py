"""Log lines people can read: ``LEVEL event key=value ...`` (dotted event names, extras as pairs).

Secrets are never passed to the logger; this formatter only prints what the call site gives it.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STANDARD
        )
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower():<7} {record.getMessage()}"
        if extras:
            line += " " + extras
        if record.exc_info and logging.getLogger().isEnabledFor(logging.DEBUG):  # tracebacks only when asked
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "WARNING")
