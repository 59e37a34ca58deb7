"""kubelet-lite's global flags and their environment variables, read in one place.

A flag wins over its environment variable, which wins over the default. An
environment value is checked as strictly as the flag (a bad
``KUBELETLITE_LOG_LEVEL`` is one line naming the variable and its choices).
Global flags are taken before or after the command, as kubectl takes them:
each command's parser gets them too, without defaults, so that a flag given
before the command is not overwritten by the command parser's default.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cricommon.envflags import EnvValueError, from_env, help_suffix
from kubeletlite.runtime.client import DEFAULT_ENDPOINT
from kubeletlite.settings import DEFAULT_STATE_DIR


class FlagError(Exception):
    """A bad flag or environment value; the message is one line."""


@dataclass(frozen=True, slots=True)
class Flag:
    names: tuple[str, ...]
    env: str | None
    default: str
    help: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.names[-1].lstrip("-").replace("-", "_")


GLOBAL_FLAGS: tuple[Flag, ...] = (
    Flag(
        ("--runtime-endpoint",),
        "CONTAINER_RUNTIME_ENDPOINT",
        DEFAULT_ENDPOINT,
        "CRI runtime endpoint (unix:///path/to/socket)",
        metavar="ENDPOINT",
    ),
    Flag(
        ("--state-dir",),
        "KUBELETLITE_STATE_DIR",
        DEFAULT_STATE_DIR,
        "events, hook timelines and volumes",
        metavar="DIR",
    ),
    Flag(
        ("--log-level",),
        "KUBELETLITE_LOG_LEVEL",
        "info",
        "log verbosity",
        choices=("debug", "info", "warning", "error"),
    ),
    Flag(
        ("--log-format",),
        "KUBELETLITE_LOG_FORMAT",
        "text",
        "text, or one JSON object per line",
        choices=("text", "json"),
    ),
    Flag(("-n", "--namespace"), None, "default", "namespace of the pods named"),
)


def defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """Each global flag's default: its environment variable if set (checked), else built in."""
    values: dict[str, str] = {}
    for flag in GLOBAL_FLAGS:
        try:
            value = from_env(flag.env, environ, choices=flag.choices)
        except EnvValueError as exc:
            raise FlagError(str(exc)) from None
        values[flag.dest] = flag.default if value is None else value
    values["runtime_endpoint"] = endpoint(values["runtime_endpoint"], "CONTAINER_RUNTIME_ENDPOINT")
    return values


def endpoint(value: str, source: str) -> str:
    """A CRI endpoint as gRPC takes it; a bare socket path gets unix:// (as crictl does)."""
    if value.startswith("/"):
        return f"unix://{value}"
    if not value.startswith("unix://") or len(value) <= len("unix://"):
        raise FlagError(
            f"{source} {value!r}: use unix:///path/to/socket (a local runtime's socket)"
        )
    return value


def add_global(parser: argparse.ArgumentParser, values: Mapping[str, str] | None) -> None:
    """The global flags: with ``values`` as defaults, or (``None``) without any default."""
    group = parser.add_argument_group("global flags (before or after the command)")
    for flag in GLOBAL_FLAGS:
        where = help_suffix(flag.env)
        default = argparse.SUPPRESS if values is None else values[flag.dest]
        shown = "" if values is None else " (default %(default)s)"
        group.add_argument(
            *flag.names,
            dest=flag.dest,
            default=default,
            choices=flag.choices,
            metavar=flag.metavar,
            help=f"{flag.help}{where}{shown}",
        )


def finish(args: argparse.Namespace) -> None:
    """Normalise flag values given on the command line (defaults are checked already)."""
    args.runtime_endpoint = endpoint(args.runtime_endpoint, "--runtime-endpoint")
    args.state_dir = Path(args.state_dir)
