"""kubectl takes every flag after POD as well: `exec POD -n NS --runtime-endpoint E -it -- CMD`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kubeletlite.cli.commands.common import CommandError
from kubeletlite.cli.main import build_parser
from kubeletlite.cli.streamcommands import _flags_before_dashes


def parse(*argv: str) -> tuple[argparse.Namespace, list[str]]:
    args = build_parser({}).parse_args(["exec", *argv])
    return args, _flags_before_dashes(args)


def test_global_and_stdio_flags_between_the_pod_and_the_command() -> None:
    args, command = parse(
        "web", "-n", "shop", "--runtime-endpoint", "/tmp/x.sock", "--state-dir", "/tmp/s",
        "-it", "-c", "app", "--", "sh", "-c", "exit 7",
    )  # fmt: skip
    assert command == ["sh", "-c", "exit 7"]
    wanted = {
        "namespace": "shop",
        "runtime_endpoint": "unix:///tmp/x.sock",
        "state_dir": Path("/tmp/s"),
        "stdin": True,
        "tty": True,
        "container": "app",
    }
    assert {name: getattr(args, name) for name in wanted} == wanted


def test_flags_not_given_after_the_pod_keep_their_values() -> None:
    args, command = parse("web", "--", "true")
    assert command == ["true"]
    assert args.namespace == "default"


def test_an_unknown_flag_before_the_dashes_is_one_error() -> None:
    with pytest.raises(CommandError, match="--bogus"):
        parse("web", "--bogus", "--", "true")
