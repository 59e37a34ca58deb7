"""Command-line and environment configuration of the shim daemon.

Every option is a flag and an environment variable (``CRI_SHIM_<NAME>``,
plus Docker's own ``DOCKER_HOST``); a flag wins over the environment, which
wins over the default (``cricommon.envflags``, as in kubelet-lite).
:data:`OPTIONS` is the one list of them: ``--help`` is built from it, and a
test checks the README's table against it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cricommon import metrics
from cricommon.envflags import EnvValueError, from_env, help_suffix
from shim import __version__

DEFAULT_SOCKET = "/run/cri-shim.sock"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_INFRA_IMAGE = "registry.k8s.io/pause:3.10"
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclass(frozen=True, slots=True)
class ShimConfig:
    listen: str = DEFAULT_SOCKET
    docker_host: str = DEFAULT_DOCKER_HOST
    pod_infra_image: str = DEFAULT_INFRA_IMAGE
    pod_network: str = "bridge"
    sandbox_oom_score_adj: int = -998
    docker_timeout: float = 120.0
    image_pull_progress_deadline: float = 60.0
    shutdown_grace: float = 10.0
    socket_group: str = ""
    log_level: str = "info"
    log_format: str = "text"
    metrics_address: str = ""
    instance: str = ""
    streaming_address: str = "127.0.0.1:0"
    streaming_base_url: str = ""
    streaming_tls_cert: str = ""
    streaming_tls_key: str = ""
    streaming_max_streams: int = 100
    streaming_idle_timeout: float = 14400.0


@dataclass(frozen=True, slots=True)
class Option:
    flag: str
    env: str
    field: str
    help: str
    kind: type = str
    choices: tuple[str, ...] | None = None


OPTIONS: tuple[Option, ...] = (
    Option("--listen", "CRI_SHIM_LISTEN", "listen", "unix socket to serve the CRI on"),
    Option(
        "--docker-host",
        "DOCKER_HOST",
        "docker_host",
        "Docker Engine endpoint (unix:///path or tcp://host:port)",
    ),
    Option(
        "--pod-infra-image",
        "CRI_SHIM_POD_INFRA_IMAGE",
        "pod_infra_image",
        "image of each sandbox's infra (pause) container; its process must exit on SIGTERM",
    ),
    Option(
        "--pod-network",
        "CRI_SHIM_POD_NETWORK",
        "pod_network",
        "Docker network for sandboxes whose network namespace mode is POD",
    ),
    Option(
        "--sandbox-oom-score-adj",
        "CRI_SHIM_SANDBOX_OOM_SCORE_ADJ",
        "sandbox_oom_score_adj",
        "oom_score_adj of infra containers (falls back to 0 where the kernel refuses negatives)",
        int,
    ),
    Option(
        "--docker-timeout",
        "CRI_SHIM_DOCKER_TIMEOUT",
        "docker_timeout",
        "upper bound in seconds on any single Docker API call",
        float,
    ),
    Option(
        "--image-pull-progress-deadline",
        "CRI_SHIM_IMAGE_PULL_PROGRESS_DEADLINE",
        "image_pull_progress_deadline",
        "cancel a pull that reports no progress for this many seconds",
        float,
    ),
    Option(
        "--shutdown-grace",
        "CRI_SHIM_SHUTDOWN_GRACE",
        "shutdown_grace",
        "seconds in-flight calls get to finish on SIGTERM/SIGINT",
        float,
    ),
    Option(
        "--socket-group",
        "CRI_SHIM_SOCKET_GROUP",
        "socket_group",
        "group owning the socket (mode 0660); empty keeps the daemon's group",
    ),
    Option(
        "--log-level",
        "CRI_SHIM_LOG_LEVEL",
        "log_level",
        "log verbosity",
        choices=("debug", "info", "warning", "error"),
    ),
    Option(
        "--log-format",
        "CRI_SHIM_LOG_FORMAT",
        "log_format",
        "text, or json: one object per line",
        choices=("text", "json"),
    ),
    Option(
        "--metrics-address",
        "CRI_SHIM_METRICS_ADDRESS",
        "metrics_address",
        "serve Prometheus metrics on HOST:PORT (loopback only; empty disables)",
    ),
    Option(
        "--instance",
        "CRI_SHIM_INSTANCE",
        "instance",
        "label every sandbox and container with this name and see only those so labelled "
        "(several shims, e.g. one per kubelet, on one dockerd); empty sees everything",
    ),
    Option(
        "--streaming-address",
        "CRI_SHIM_STREAMING_ADDRESS",
        "streaming_address",
        "HOST:PORT of the Exec/Attach/PortForward server (port 0: any free port); "
        "off loopback only with TLS",
    ),
    Option(
        "--streaming-base-url",
        "CRI_SHIM_STREAMING_BASE_URL",
        "streaming_base_url",
        "base URL advertised in streaming responses (empty: the address as bound)",
    ),
    Option(
        "--streaming-tls-cert",
        "CRI_SHIM_STREAMING_TLS_CERT",
        "streaming_tls_cert",
        "PEM certificate file: serve streams over TLS (with --streaming-tls-key)",
    ),
    Option(
        "--streaming-tls-key",
        "CRI_SHIM_STREAMING_TLS_KEY",
        "streaming_tls_key",
        "PEM private key file of --streaming-tls-cert",
    ),
    Option(
        "--streaming-max-streams",
        "CRI_SHIM_STREAMING_MAX_STREAMS",
        "streaming_max_streams",
        "concurrent streaming sessions; more are refused with 429",
        int,
    ),
    Option(
        "--streaming-idle-timeout",
        "CRI_SHIM_STREAMING_IDLE_TIMEOUT",
        "streaming_idle_timeout",
        "seconds a streaming session may pass without traffic before it is closed",
        float,
    ),
)


def build_parser(defaults: ShimConfig | None = None) -> argparse.ArgumentParser:
    defaults = defaults or ShimConfig()
    parser = argparse.ArgumentParser(
        prog="cri-shim",
        description=(
            "Serve the Kubernetes Container Runtime Interface (runtime.v1) on a unix "
            "socket, backed by the Docker Engine API."
        ),
        epilog="Each option can also be set through the environment variable shown.",
    )
    parser.add_argument("--version", action="version", version=f"cri-shim {__version__}")
    for option in OPTIONS:
        default = getattr(defaults, option.field)
        parser.add_argument(
            option.flag,
            dest=option.field,
            type=option.kind,
            choices=option.choices,
            default=None,
            metavar=None if option.choices else option.field.upper(),
            help=f"{option.help}{help_suffix(option.env)} (default: {default!r})",
        )
    return parser


def load(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ShimConfig:
    """Resolve flags, then environment, then defaults."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    values: dict[str, object] = {}
    for option in OPTIONS:
        flag_value = getattr(args, option.field)
        if flag_value is not None:
            values[option.field] = flag_value
        else:
            try:
                env_value = from_env(option.env, environ, option.kind, option.choices)
            except EnvValueError as exc:
                parser.error(str(exc))
            if env_value is not None:
                values[option.field] = env_value
    config = ShimConfig(**values)  # type: ignore[arg-type]
    _check(parser, config)
    return config


def _check(parser: argparse.ArgumentParser, config: ShimConfig) -> None:
    if not socket_path(config.listen).startswith("/"):
        parser.error(f"--listen {config.listen!r}: must be an absolute unix socket path")
    if not -1000 <= config.sandbox_oom_score_adj <= 1000:
        parser.error("--sandbox-oom-score-adj: must be between -1000 and 1000")
    for name in (
        "docker_timeout",
        "image_pull_progress_deadline",
        "shutdown_grace",
        "streaming_idle_timeout",
    ):
        if not getattr(config, name) > 0:  # also rejects NaN
            parser.error(f"--{name.replace('_', '-')}: must be positive")
    if config.metrics_address:
        try:
            metrics.check_address(config.metrics_address)
        except ValueError as exc:
            parser.error(f"--metrics-address: {exc}")
    _check_instance(parser, config.instance)
    _check_streaming(parser, config)


def _check_streaming(parser: argparse.ArgumentParser, config: ShimConfig) -> None:
    try:
        host, _ = streaming_host_port(config.streaming_address)
    except ValueError:
        parser.error("--streaming-address: expected HOST:PORT")
    if bool(config.streaming_tls_cert) != bool(config.streaming_tls_key):
        parser.error("--streaming-tls-cert and --streaming-tls-key go together")
    if not config.streaming_tls_cert and not _is_loopback(host):
        parser.error(
            "--streaming-address: a non-loopback address needs TLS "
            "(--streaming-tls-cert and --streaming-tls-key)"
        )
    if config.streaming_max_streams < 1:
        parser.error("--streaming-max-streams: must be at least 1")
    if config.streaming_base_url and not config.streaming_base_url.startswith(
        ("http://", "https://")
    ):
        parser.error("--streaming-base-url: must start with http:// or https://")


def streaming_host_port(address: str) -> tuple[str, int]:
    """ "127.0.0.1:0", "[::1]:10010" -> (host, port); ValueError otherwise."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(address)
    return host, int(port)


def _check_instance(parser: argparse.ArgumentParser, instance: str) -> None:
    if instance and not _INSTANCE.fullmatch(instance):
        parser.error(
            f"--instance {instance!r}: expected at most 63 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def socket_path(listen: str) -> str:
    """Accept both "/run/x.sock" and "unix:///run/x.sock", as crictl's endpoints do."""
    return listen.removeprefix("unix://")
