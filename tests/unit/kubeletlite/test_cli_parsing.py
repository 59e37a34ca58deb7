"""kubelet-lite's command line as parsed: global flags anywhere, environment checked,
kubectl's flag shapes; and what the state directory alone answers (completion names)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeletlite.cli import completion
from kubeletlite.cli import flags as cliflags
from kubeletlite.cli import main as cli
from kubeletlite.cli.commands import delete as delete_command
from kubeletlite.cli.commands.common import CommandError
from kubeletlite.state.records import ContainerStatus, PodMeta, PodStatus
from kubeletlite.state.store import StateStore


def parse(*argv: str, environ: dict[str, str] | None = None) -> object:
    args = cli.build_parser(environ or {}).parse_args(argv)
    cliflags.finish(args)
    return args


@pytest.mark.parametrize(
    "argv",
    [
        ("--runtime-endpoint", "unix:///x.sock", "-n", "shop", "get", "pods"),
        ("get", "pods", "--runtime-endpoint", "unix:///x.sock", "-n", "shop"),
        ("-n", "shop", "get", "--runtime-endpoint", "unix:///x.sock", "pods"),
    ],
)
def test_global_flags_before_or_after_the_command(argv: tuple[str, ...]) -> None:
    args = parse(*argv)
    assert args.runtime_endpoint == "unix:///x.sock"  # type: ignore[attr-defined]
    assert args.namespace == "shop"  # type: ignore[attr-defined]


def test_a_flag_before_the_command_is_not_reset_by_the_commands_parser() -> None:
    args = parse("--state-dir", "/s", "--log-level", "debug", "run", "-f", "p.yaml")
    assert args.state_dir == Path("/s")  # type: ignore[attr-defined]
    assert args.log_level == "debug"  # type: ignore[attr-defined]


def test_defaults_come_from_the_environment() -> None:
    environ = {
        "CONTAINER_RUNTIME_ENDPOINT": "/run/other.sock",
        "KUBELETLITE_STATE_DIR": "/var/tmp/lite",
        "KUBELETLITE_LOG_LEVEL": "warning",
    }
    args = parse("get", "pods", environ=environ)
    assert args.runtime_endpoint == "unix:///run/other.sock"  # type: ignore[attr-defined]
    assert args.state_dir == Path("/var/tmp/lite")  # type: ignore[attr-defined]
    assert args.log_level == "warning"  # type: ignore[attr-defined]
    # The flag wins over the environment.
    flagged = parse("get", "pods", "--log-level", "error", environ=environ)
    assert flagged.log_level == "error"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"KUBELETLITE_LOG_LEVEL": "bogus"},
            "KUBELETLITE_LOG_LEVEL='bogus' is not valid: use one of debug, info, warning, error",
        ),
        (
            {"KUBELETLITE_LOG_FORMAT": "xml"},
            "KUBELETLITE_LOG_FORMAT='xml' is not valid: use one of text, json",
        ),
        (
            {"CONTAINER_RUNTIME_ENDPOINT": "tcp://1.2.3.4:80"},
            "CONTAINER_RUNTIME_ENDPOINT 'tcp://1.2.3.4:80': use unix:///path/to/socket "
            "(a local runtime's socket)",
        ),
    ],
)
def test_a_bad_environment_value_is_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(cliflags.FlagError) as caught:
        cliflags.defaults(environ)
    assert str(caught.value) == message


def test_main_reports_a_bad_environment_value_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBELETLITE_LOG_LEVEL", "bogus")
    assert cli.main(["get", "pods"]) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "error: KUBELETLITE_LOG_LEVEL='bogus' is not valid: use one of debug, info, warning, error"
    ]


def test_kubectl_flag_shapes() -> None:
    get = parse("get", "po", "web", "db", "-o", "json", "-w", "-l", "app=web", "--show-labels")
    assert get.names == ["web", "db"]  # type: ignore[attr-defined]
    assert (get.output, get.watch, get.selector) == ("json", True, "app=web")  # type: ignore[attr-defined]
    logs = parse("logs", "web", "-c", "app", "-p", "--tail", "5", "--since", "2m", "--prefix")
    assert (logs.previous, logs.tail, logs.since, logs.prefix) == (True, 5, "2m", True)  # type: ignore[attr-defined]
    delete = parse("delete", "pod", "a", "b", "--wait=false", "--grace-period", "3")
    assert delete.targets == ["pod", "a", "b"]  # type: ignore[attr-defined]
    assert (delete.wait, delete.grace_period) == (False, 3)  # type: ignore[attr-defined]
    assert parse("delete", "pod", "a", "--wait").wait is True  # type: ignore[attr-defined]
    assert parse("delete", "-f", "x.yaml").filename == ["x.yaml"]  # type: ignore[attr-defined]
    assert parse("timeline", "web", "-o", "html").output == "html"  # type: ignore[attr-defined]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse("get", "pods", "-o", "table")
    assert caught.value.code == 2
    assert "invalid choice: 'table'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "targets"),
    [
        (["pod", "a", "b", "a"], [("ns", "a"), ("ns", "b")]),
        (["pod/a", "po/b"], [("ns", "a"), ("ns", "b")]),
    ],
)
def test_delete_targets(argv: list[str], targets: list[tuple[str, str]]) -> None:
    args = parse("-n", "ns", "delete", *argv)
    assert delete_command.named_pods(args) == targets  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["delete", "svc/a"], "unknown resource"),
        (["delete"], "name the pods to delete"),
        (["delete", "pod"], "name the pods to delete"),
    ],
)
def test_delete_refuses(argv: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        delete_command.named_pods(parse(*argv))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "grace"),
    [([], None), (["--grace-period", "5"], 5), (["--now"], 1), (["--force"], 0)],
)
def test_grace_period_flags(argv: list[str], grace: int | None) -> None:
    assert delete_command.grace_seconds(parse("delete", "pod", "a", *argv)) == grace  # type: ignore[arg-type]


def test_now_and_grace_period_conflict() -> None:
    with pytest.raises(CommandError, match="cannot be specified together"):
        delete_command.grace_seconds(parse("delete", "pod", "a", "--now", "--grace-period", "3"))  # type: ignore[arg-type]


def test_completion_scripts_name_the_commands_and_the_pod_helper() -> None:
    for shell in completion.SHELLS:
        script = completion.script(cli.build_parser({}), shell)
        assert "timeline" in script
        assert "kubeletlite __complete pods" in script


def test_completion_lists_live_pods_and_their_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = StateStore(tmp_path)
    live = store.pod("shop", "web", "u1")
    live.init(PodMeta(name="web", namespace="shop", uid="u1"))
    containers = (ContainerStatus(name="nginx"), ContainerStatus(name="sidecar"))
    live.write_status(PodStatus(phase="Running", containers=containers))
    gone = store.pod("shop", "old", "u2")
    gone.init(PodMeta(name="old", namespace="shop", uid="u2"))
    gone.mark_deleted()
    monkeypatch.setenv("KUBELETLITE_STATE_DIR", str(tmp_path))
    assert cli.main([completion.HELPER, "pods"]) == 0
    assert capsys.readouterr().out == "web\n"
    assert cli.main([completion.HELPER, "containers"]) == 0
    assert capsys.readouterr().out == "nginx\nsidecar\n"
    assert json.loads((live.directory / "pod.json").read_text())["name"] == "web"
