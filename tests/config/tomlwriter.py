"""A small TOML writer for the property tests (the standard library only reads TOML).

Two styles exercise both ways people write configs: ``inline`` puts nested tables and arrays of
tables inline (``options = { ... }``); ``tables`` gives them their own ``[a.b]`` / ``[[a.b]]``
headers.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Literal

Style = Literal["inline", "tables"]


def key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else string(k)


def string(s: str) -> str:
    # JSON strings are TOML basic strings, except that TOML wants DEL escaped too.
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        return string(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _is_tables(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dumps(data: dict[str, Any], style: Style = "tables") -> str:
    out: list[str] = []
    _table([], data, out, style, top=True)
    return "\n".join(out) + "\n"


def _table(path: list[str], data: dict[str, Any], out: list[str], style: Style, top: bool = False) -> None:
    def own_header(v: Any) -> bool:
        return (top and _is_tables(v)) or (style == "tables" and (isinstance(v, dict) or _is_tables(v)))

    for k, v in data.items():
        if not own_header(v):
            out.append(f"{key(k)} = {value(v)}")
    for k, v in data.items():
        if not own_header(v):
            continue
        dotted = ".".join(key(p) for p in [*path, k])
        if isinstance(v, dict):
            out.append(f"[{dotted}]")
            _table([*path, k], v, out, style)
        else:
            for item in v:
                out.append(f"[[{dotted}]]")
                _table([*path, k], item, out, style)
