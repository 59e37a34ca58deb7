"""Flags, environment and defaults of the daemon (shim.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shim import config
from shim.config import ShimConfig


def load(argv=(), environ=None):
    return config.load(list(argv), environ or {})


def test_defaults():
    assert load() == ShimConfig()
    assert ShimConfig().listen == "/run/cri-shim.sock"
    assert ShimConfig().docker_host == "unix:///var/run/docker.sock"


@pytest.mark.parametrize(
    ("option", "flag_value", "env_value", "expected_flag", "expected_env"),
    [
        ("--listen", "/run/a.sock", "/run/b.sock", "/run/a.sock", "/run/b.sock"),
        ("--docker-host", "tcp://a:2375", "unix:///b.sock", "tcp://a:2375", "unix:///b.sock"),
        ("--pod-infra-image", "pause:a", "pause:b", "pause:a", "pause:b"),
        ("--pod-network", "net-a", "net-b", "net-a", "net-b"),
        ("--sandbox-oom-score-adj", "-5", "7", -5, 7),
        ("--docker-timeout", "1.5", "3", 1.5, 3.0),
        ("--image-pull-progress-deadline", "30", "45.5", 30.0, 45.5),
        ("--shutdown-grace", "2", "4", 2.0, 4.0),
        ("--socket-group", "docker", "wheel", "docker", "wheel"),
        ("--log-level", "debug", "error", "debug", "error"),
        ("--log-format", "json", "text", "json", "text"),
        ("--metrics-address", "127.0.0.1:9090", "[::1]:9091", "127.0.0.1:9090", "[::1]:9091"),
        ("--streaming-address", "127.0.0.1:10010", "[::1]:0", "127.0.0.1:10010", "[::1]:0"),
        ("--streaming-base-url", "http://a:1", "https://b:2", "http://a:1", "https://b:2"),
        ("--streaming-max-streams", "5", "7", 5, 7),
        ("--streaming-idle-timeout", "30", "60.5", 30.0, 60.5),
    ],
)
def test_flag_beats_env_beats_default(option, flag_value, env_value, expected_flag, expected_env):
    spec = next(o for o in config.OPTIONS if o.flag == option)
    environ = {spec.env: env_value}
    assert getattr(load([option, flag_value], environ), spec.field) == expected_flag
    assert getattr(load([], environ), spec.field) == expected_env
    assert getattr(load(), spec.field) == getattr(ShimConfig(), spec.field)


def test_env_names():
    assert {o.env for o in config.OPTIONS} == {
        "CRI_SHIM_LISTEN",
        "DOCKER_HOST",
        "CRI_SHIM_POD_INFRA_IMAGE",
        "CRI_SHIM_POD_NETWORK",
        "CRI_SHIM_SANDBOX_OOM_SCORE_ADJ",
        "CRI_SHIM_DOCKER_TIMEOUT",
        "CRI_SHIM_IMAGE_PULL_PROGRESS_DEADLINE",
        "CRI_SHIM_SHUTDOWN_GRACE",
        "CRI_SHIM_SOCKET_GROUP",
        "CRI_SHIM_LOG_LEVEL",
        "CRI_SHIM_LOG_FORMAT",
        "CRI_SHIM_METRICS_ADDRESS",
        "CRI_SHIM_INSTANCE",
        "CRI_SHIM_STREAMING_ADDRESS",
        "CRI_SHIM_STREAMING_BASE_URL",
        "CRI_SHIM_STREAMING_TLS_CERT",
        "CRI_SHIM_STREAMING_TLS_KEY",
        "CRI_SHIM_STREAMING_MAX_STREAMS",
        "CRI_SHIM_STREAMING_IDLE_TIMEOUT",
    }


def test_every_option_is_a_config_field():
    fields = set(ShimConfig.__dataclass_fields__)
    assert {o.field for o in config.OPTIONS} == fields


def test_a_valid_flag_hides_an_invalid_env_value():
    environ = {"CRI_SHIM_DOCKER_TIMEOUT": "soon"}
    assert load(["--docker-timeout", "5"], environ).docker_timeout == 5.0


def test_unrelated_environment_is_ignored():
    assert load([], {"CRI_SHIM_BOGUS": "x", "HOME": "/root"}) == ShimConfig()


def test_empty_env_string_is_a_value():
    assert load([], {"CRI_SHIM_SOCKET_GROUP": ""}).socket_group == ""
    assert load([], {"CRI_SHIM_SOCKET_GROUP": "docker"}).socket_group == "docker"


@pytest.mark.parametrize(
    ("listen", "path"),
    [
        ("/run/x.sock", "/run/x.sock"),
        ("unix:///run/x.sock", "/run/x.sock"),
        ("unix:///tmp/a/b.sock", "/tmp/a/b.sock"),
    ],
)
def test_unix_prefix_is_accepted(listen, path):
    loaded = load(["--listen", listen])
    assert loaded.listen == listen
    assert config.socket_path(loaded.listen) == path


@pytest.mark.parametrize(
    "argv",
    [
        ["--listen", "relative.sock"],
        ["--listen", "unix://relative.sock"],
        ["--listen", ""],
        ["--sandbox-oom-score-adj", "1001"],
        ["--sandbox-oom-score-adj", "-1001"],
        ["--sandbox-oom-score-adj", "1.5"],
        ["--docker-timeout", "0"],
        ["--docker-timeout", "-1"],
        ["--docker-timeout", "nan"],
        ["--docker-timeout", "soon"],
        ["--image-pull-progress-deadline", "0"],
        ["--shutdown-grace", "-0.5"],
        ["--log-level", "verbose"],
        ["--log-format", "xml"],
        ["--metrics-address", "9090"],
        ["--metrics-address", ":9090"],
        ["--metrics-address", "127.0.0.1:"],
        ["--metrics-address", "127.0.0.1:http"],
        ["--metrics-address", "127.0.0.1:99999"],
        ["--metrics-address", "0.0.0.0:9090"],
        ["--metrics-address", "localhost:9090"],
        ["--instance", "-leading-dash"],
        ["--instance", "has space"],
        ["--instance", "a/b"],
        ["--instance", "x" * 64],
        ["--no-such-flag"],
    ],
)
def test_invalid_flags_exit_with_usage_error(argv):
    with pytest.raises(SystemExit) as info:
        load(argv)
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("CRI_SHIM_LISTEN", "relative.sock"),
        ("CRI_SHIM_SANDBOX_OOM_SCORE_ADJ", "lots"),
        ("CRI_SHIM_SANDBOX_OOM_SCORE_ADJ", "1.5"),
        ("CRI_SHIM_SANDBOX_OOM_SCORE_ADJ", "2000"),
        ("CRI_SHIM_DOCKER_TIMEOUT", "0"),
        ("CRI_SHIM_DOCKER_TIMEOUT", "NaN"),
        ("CRI_SHIM_SHUTDOWN_GRACE", "-3"),
        ("CRI_SHIM_LOG_LEVEL", "DEBUG"),
        ("CRI_SHIM_LOG_FORMAT", "yaml"),
        ("CRI_SHIM_METRICS_ADDRESS", "nocolon"),
    ],
)
def test_invalid_env_values_exit_with_usage_error(env, value, capsys):
    with pytest.raises(SystemExit) as info:
        load([], {env: value})
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_an_empty_variable_leaves_the_default():
    # As in kubelet-lite (cricommon.envflags): set but empty is unset.
    assert load([], {"CRI_SHIM_DOCKER_TIMEOUT": ""}).docker_timeout == 120.0


def test_bad_env_int_names_the_variable(capsys):
    with pytest.raises(SystemExit):
        load([], {"CRI_SHIM_SANDBOX_OOM_SCORE_ADJ": "lots"})
    error = capsys.readouterr().err
    assert "CRI_SHIM_SANDBOX_OOM_SCORE_ADJ='lots' is not valid: expected an integer" in error


def test_bad_env_choice_lists_the_choices(capsys):
    with pytest.raises(SystemExit):
        load([], {"CRI_SHIM_LOG_FORMAT": "yaml"})
    assert "CRI_SHIM_LOG_FORMAT='yaml' is not valid: use one of text, json" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("value", ["-1000", "0", "1000"])
def test_oom_score_bounds_are_inclusive(value):
    assert load(["--sandbox-oom-score-adj", value]).sandbox_oom_score_adj == int(value)


def test_help_mentions_every_env_var_and_flag(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as info:
        load(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in config.OPTIONS:
        assert option.env in out
        assert option.flag in out


def test_help_shows_defaults(capsys):
    config.build_parser().print_help()
    out = " ".join(capsys.readouterr().out.split())
    assert "default: '/run/cri-shim.sock'" in out
    assert "default: -998" in out


def test_version_exits_zero(capsys):
    with pytest.raises(SystemExit) as info:
        load(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("cri-shim ")


def test_load_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("CRI_SHIM_POD_NETWORK", "from-os-environ")
    assert config.load([]).pod_network == "from-os-environ"


def test_readme_documents_every_option():
    """The README's configuration table names each flag with its environment variable."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for option in config.OPTIONS:
        assert f"| `{option.flag}` | `{option.env}` |" in readme, option.flag


@pytest.mark.parametrize("name", ["", "kubelet-e2e", "A.b_c-1", "x" * 63])
def test_instance_names(name):
    assert load(["--instance", name]).instance == name


def test_streaming_listens_on_loopback_by_default():
    assert config.streaming_host_port(ShimConfig().streaming_address) == ("127.0.0.1", 0)


@pytest.mark.parametrize("address", ["0.0.0.0:10010", "192.0.2.1:10010", "[::]:10010"])
def test_streaming_off_loopback_needs_tls(address, capsys):
    with pytest.raises(SystemExit):
        load(["--streaming-address", address])
    assert "needs TLS" in capsys.readouterr().err
    with_tls = load(
        [
            "--streaming-address",
            address,
            "--streaming-tls-cert",
            "/etc/c.pem",
            "--streaming-tls-key",
            "/etc/k.pem",
        ]
    )
    assert with_tls.streaming_address == address


@pytest.mark.parametrize(
    "argv",
    [
        ["--streaming-tls-cert", "/etc/c.pem"],
        ["--streaming-address", "nonsense"],
        ["--streaming-max-streams", "0"],
        ["--streaming-idle-timeout", "0"],
        ["--streaming-base-url", "ftp://x"],
    ],
)
def test_bad_streaming_options_are_refused(argv):
    with pytest.raises(SystemExit):
        load(argv)
