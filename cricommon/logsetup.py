"""Logging for both daemons: text for people, or one JSON object per line for collectors.

In JSON, the extra fields a log call passes (``pod``, ``container``, ``sandbox``)
become keys of the object.
"""

from __future__ import annotations

import logging
import sys

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Libraries that are chatty below WARNING and say nothing our own logs miss.
_QUIET = {
    "aiohttp": logging.INFO,
    "grpc": logging.INFO,
    "asyncio": logging.INFO,
    "watchfiles": logging.WARNING,
}


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        # Imported only for JSON logs, so text-logging daemons do not load it.
        from pythonjsonlogger.json import JsonFormatter  # noqa: PLC0415

        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name, floor in _QUIET.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
