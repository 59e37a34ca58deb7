"""Logging for kubelet-lite: text for people, or one JSON object per line (pod and
container as fields) for collectors."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        # Extra fields passed to a log call (container, sandbox...) become JSON keys.
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp and grpc are chatty at debug level and say nothing the shim's own logs miss.
    for noisy in ("aiohttp", "grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    # watchfiles reports every batch of file changes at INFO.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
