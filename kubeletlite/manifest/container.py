"""Readers for a container and what it holds: ports, env, mounts, resources, security
context, lifecycle handlers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from kubeletlite.manifest.errors import IGNORED, ErrorType, _go_value, _key_text
from kubeletlite.manifest.formats import (
    _HTTP_HEADER_NAME_FMT,
    _HTTP_HEADER_NAME_MSG,
    _INT64_MAX,
    _IP_MSG,
    _NEGATIVE_MSG,
    _PORT_RANGE_MSG,
    _env_name_errors,
    _is_ip,
    _is_zero,
    _port_name_errors,
    _regex_error,
)
from kubeletlite.manifest.model import (
    Capabilities,
    Container,
    ContainerPort,
    EnvVar,
    ExecAction,
    Handler,
    HTTPGetAction,
    HTTPHeader,
    Lifecycle,
    Resources,
    SecurityContext,
    SleepAction,
    VolumeMount,
    default_pull_policy,
)
from kubeletlite.manifest.reader import (
    _CONTAINER_FIELDS,
    _CONTAINER_UNSUPPORTED,
    _HANDLER_TYPES,
    _MESSAGE_POLICIES,
    _PROPAGATIONS,
    _PROTOCOLS,
    _PULL_POLICIES,
    _RESOURCE_NAMES,
    _SCHEMES,
    _SECURITY_CONTEXT_FIELDS,
    _SECURITY_CONTEXT_UNSUPPORTED,
    _check_absolute,
    _read_dns_label,
    _read_enum,
    _read_id,
    _Reader,
)
from kubeletlite.quantity import (
    FORMAT_ERROR,
    QuantityError,
    cpu_to_millicores,
    parse_quantity,
    to_bytes,
)


@dataclass(frozen=True, slots=True)
class _PodContext:
    """The pod-level facts that container checks depend on."""

    grace_period: int | None  # None when invalid: sleep checks then stay quiet
    host_network: bool
    volume_names: frozenset[str]


# Containers.


def _read_containers(s: _Reader, context: _PodContext) -> tuple[Container, ...]:
    if _is_zero(s.get("containers")):
        s.required(s.at("containers"))
        return ()
    containers = []
    names: set[str] = set()
    host_ports: set[str] = set()
    for c in s.obj_list("containers"):
        container = _read_container(c, context)
        if container.name in names:
            c.report(c.at("name"), ErrorType.DUPLICATE, value=container.name)
        elif container.name:
            names.add(container.name)
        _check_unique_host_ports(c, container, host_ports)
        containers.append(container)
    return tuple(containers)


def _check_unique_host_ports(c: _Reader, container: Container, seen: set[str]) -> None:
    """No two ports of a pod may claim the same protocol, hostIP and hostPort."""
    for i, port in enumerate(container.ports):
        if not port.host_port:
            continue
        claim = f"{port.protocol}/{port.host_ip or ''}/{port.host_port}"
        if claim in seen:
            c.report(f"{c.at('ports')}[{i}].hostPort", ErrorType.DUPLICATE, value=claim)
        seen.add(claim)


def _read_container(c: _Reader, context: _PodContext) -> Container:
    c.check_fields(_CONTAINER_FIELDS, unsupported=_CONTAINER_UNSUPPORTED)
    name = _read_dns_label(c, "name")
    image = _read_image(c)
    ports = _read_ports(c, context.host_network)
    security = _read_security_context(c)
    return Container(
        name=name,
        image=image,
        image_pull_policy=_read_enum(c, "imagePullPolicy", _PULL_POLICIES, _pull_default(image)),
        command=c.str_list("command"),
        args=c.str_list("args"),
        env=_read_env(c),
        working_dir=_read_path(c, "workingDir", ""),
        ports=ports,
        volume_mounts=_read_volume_mounts(c, context.volume_names, security.privileged),
        resources=_read_resources(c),
        security_context=security,
        lifecycle=_read_lifecycle(c, context, ports),
        stdin=c.flag("stdin"),
        stdin_once=c.flag("stdinOnce"),
        tty=c.flag("tty"),
        termination_message_path=_read_path(c, "terminationMessagePath", "/dev/termination-log"),
        termination_message_policy=_read_enum(
            c, "terminationMessagePolicy", _MESSAGE_POLICIES, "File"
        ),
    )


def _pull_default(image: str) -> str:
    return default_pull_policy(image) if image else "IfNotPresent"


def _read_image(c: _Reader) -> str:
    image = c.req_str("image")
    if image != image.strip():
        c.invalid(c.at("image"), image, "must not have leading or trailing whitespace")
    return image


def _read_path(r: _Reader, key: str, default: str) -> str:
    """An optional absolute path (Docker refuses relative ones at start time)."""
    path = r.str_or(key, default)
    _check_absolute(r, key, path)
    return path


def _read_env(c: _Reader) -> tuple[EnvVar, ...]:
    values: dict[str, str] = {}
    for e in c.obj_list("env"):
        e.check_fields({"name", "value"}, unsupported={"valueFrom"})
        name = e.req_str("name")
        for message in _env_name_errors(name):
            e.invalid(e.at("name"), name, message)
        # A later duplicate wins, keeping the first one's position, as the kubelet does.
        values[name] = e.str_or("value", "")
    return tuple(EnvVar(name, value) for name, value in values.items())


def _read_ports(c: _Reader, host_network: bool) -> tuple[ContainerPort, ...]:
    ports = []
    names: set[str] = set()
    for p in c.obj_list("ports"):
        port = _read_port(p, host_network)
        if port.name and port.name in names:
            p.report(p.at("name"), ErrorType.DUPLICATE, value=port.name)
        elif port.name:
            names.add(port.name)
        ports.append(port)
    return tuple(ports)


def _read_port(p: _Reader, host_network: bool) -> ContainerPort:
    p.check_fields({"containerPort", "hostPort", "name", "protocol", "hostIP"})
    container_port = _read_port_number(p, "containerPort", required=True)
    host_port = _read_port_number(p, "hostPort", required=False)
    if host_network and host_port is None:
        host_port = container_port  # Kubernetes defaults it so
    elif host_network and container_port and host_port != container_port:
        detail = "must match `containerPort` when `hostNetwork` is true"
        p.invalid(p.at("hostPort"), host_port, detail)
    name = p.opt_str("name") or None
    name_errors = _port_name_errors(name) if name else []
    for message in name_errors:
        p.invalid(p.at("name"), name, message)
    host_ip = p.opt_str("hostIP") or None
    if host_ip and not _is_ip(host_ip):
        p.invalid(p.at("hostIP"), host_ip, _IP_MSG)
    return ContainerPort(
        container_port=container_port or 0,
        name=None if name_errors else name,
        host_port=host_port,
        protocol=_read_enum(p, "protocol", _PROTOCOLS, "TCP"),
        host_ip=host_ip,
    )


def _read_port_number(p: _Reader, key: str, *, required: bool) -> int | None:
    """A port in 1..65535; None when unset (0 counts as unset, as in Go) or invalid."""
    number = p.opt_int(key)
    if not number:
        if required and (number == 0 or not p.has(key)):
            p.required(p.at(key))
        return None
    if not 1 <= number <= 65535:
        p.invalid(p.at(key), number, _PORT_RANGE_MSG)
        return None
    return number


def _read_volume_mounts(
    c: _Reader, volume_names: frozenset[str], privileged: bool
) -> tuple[VolumeMount, ...]:
    mounts = []
    mount_paths: set[str] = set()
    for m in c.obj_list("volumeMounts"):
        mount = _read_volume_mount(m, volume_names, privileged)
        if mount.mount_path and mount.mount_path in mount_paths:
            m.invalid(m.at("mountPath"), mount.mount_path, "must be unique")
        mount_paths.add(mount.mount_path)
        mounts.append(mount)
    return tuple(mounts)


def _read_volume_mount(m: _Reader, volume_names: frozenset[str], privileged: bool) -> VolumeMount:
    m.check_fields(
        {"name", "mountPath", "readOnly", "subPath", "mountPropagation"},
        unsupported={"subPathExpr", "recursiveReadOnly"},
    )
    name = m.req_str("name")
    if name and name not in volume_names:
        m.report(m.at("name"), ErrorType.NOT_FOUND, value=name)
    mount_path = m.req_str("mountPath")
    _check_absolute(m, "mountPath", mount_path)
    sub_path = m.str_or("subPath", "")
    if sub_path.startswith("/"):
        m.invalid(m.at("subPath"), sub_path, "must be a relative path")
    if ".." in sub_path.split("/"):
        m.invalid(m.at("subPath"), sub_path, "must not contain '..'")
    return VolumeMount(
        name=name,
        mount_path=mount_path,
        read_only=m.flag("readOnly"),
        sub_path=sub_path,
        mount_propagation=_read_propagation(m, privileged),
    )


def _read_propagation(m: _Reader, privileged: bool) -> str | None:
    propagation = m.opt_str("mountPropagation") or None
    if propagation is None:
        return None
    if propagation not in _PROPAGATIONS:
        m.unsupported(m.at("mountPropagation"), propagation, _PROPAGATIONS)
    elif propagation == "Bidirectional" and not privileged:
        detail = "Bidirectional mount propagation is available only to privileged containers"
        m.forbidden(m.at("mountPropagation"), detail)
    return propagation


# Resources.


@dataclass(frozen=True, slots=True)
class _Amount:
    value: Decimal  # exact, for comparisons
    text: str  # as written, for messages
    units: int  # millicores or bytes, rounded up


def _read_resources(c: _Reader) -> Resources:
    r = c.obj("resources")
    if r is None:
        return Resources()
    r.check_fields({"limits", "requests"}, unsupported={"claims"})
    limits = _read_resource_list(r, "limits")
    requests = _read_resource_list(r, "requests")
    for name, request in requests.items():
        limit = limits.get(name)
        if limit is not None and request.value > limit.value:
            detail = f"must be less than or equal to {name} limit of {limit.text}"
            r.invalid(f"{r.at('requests')}[{name}]", request.text, detail)

    def units(amounts: dict[str, _Amount], name: str) -> int | None:
        amount = amounts.get(name, limits.get(name))  # a request defaults to the limit
        return None if amount is None else amount.units

    return Resources(
        cpu_request_millis=units(requests, "cpu"),
        cpu_limit_millis=units(limits, "cpu"),
        memory_request_bytes=units(requests, "memory"),
        memory_limit_bytes=units(limits, "memory"),
    )


def _read_resource_list(r: _Reader, key: str) -> dict[str, _Amount]:
    entries = r.obj(key)
    if entries is None:
        return {}
    amounts: dict[str, _Amount] = {}
    for raw_name, raw_value in entries.data.items():
        name = _key_text(raw_name)
        path = f"{entries.path}[{name}]"
        if name not in _RESOURCE_NAMES:
            entries.unsupported(path, name, _RESOURCE_NAMES)
            continue
        amount = _read_amount(entries, path, raw_value, name)
        if amount is not None and name == "ephemeral-storage":
            entries.warn(path, IGNORED)
        elif amount is not None:
            amounts[name] = amount
    return amounts


def _read_amount(r: _Reader, path: str, raw: object, resource: str) -> _Amount | None:
    """A non-negative quantity, converted to millicores (cpu) or bytes (anything else)."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        r.invalid(path, raw, FORMAT_ERROR)
        return None
    try:
        value = parse_quantity(raw)
    except QuantityError as error:
        r.invalid(path, raw, error.reason)
        return None
    text = raw if isinstance(raw, str) else _go_value(raw)
    if value < 0:
        r.invalid(path, text, _NEGATIVE_MSG)
        return None
    units = cpu_to_millicores(value) if resource == "cpu" else to_bytes(value)
    unit_name = "millicores" if resource == "cpu" else "bytes"
    if units > _INT64_MAX:
        r.invalid(path, text, f"must not exceed {_INT64_MAX} {unit_name}")
        return None
    return _Amount(value, text, units)


# Security context.


def _read_security_context(c: _Reader) -> SecurityContext:
    s = c.obj("securityContext")
    if s is None:
        return SecurityContext()
    s.check_fields(_SECURITY_CONTEXT_FIELDS, unsupported=_SECURITY_CONTEXT_UNSUPPORTED)
    context = SecurityContext(
        run_as_user=_read_id(s, "runAsUser"),
        run_as_group=_read_id(s, "runAsGroup"),
        run_as_non_root=s.opt_bool("runAsNonRoot"),
        read_only_root_filesystem=s.flag("readOnlyRootFilesystem"),
        privileged=s.flag("privileged"),
        allow_privilege_escalation=s.opt_bool("allowPrivilegeEscalation"),
        capabilities=_read_capabilities(s),
    )
    if context.allow_privilege_escalation is False:
        # Both would grant what no_new_privs is meant to withhold.
        if context.privileged:
            detail = "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
            s.report(s.path, ErrorType.INVALID, detail)
        if {"CAP_SYS_ADMIN", "SYS_ADMIN"} & set(context.capabilities.add):
            detail = (
                "cannot set `allowPrivilegeEscalation` to false "
                "and `capabilities.Add` CAP_SYS_ADMIN"
            )
            s.report(s.path, ErrorType.INVALID, detail)
    return context


def _read_capabilities(s: _Reader) -> Capabilities:
    c = s.obj("capabilities")
    if c is None:
        return Capabilities()
    c.check_fields({"add", "drop"})
    return Capabilities(c.str_list("add"), c.str_list("drop"))


# Lifecycle handlers.


def _read_lifecycle(c: _Reader, context: _PodContext, ports: Sequence[ContainerPort]) -> Lifecycle:
    lifecycle = c.obj("lifecycle")
    if lifecycle is None:
        return Lifecycle()
    lifecycle.check_fields({"postStart", "preStop"}, unsupported={"stopSignal"})
    port_names = frozenset(p.name for p in ports if p.name)

    def hook(key: str) -> Handler | None:
        handler = lifecycle.obj(key)
        return None if handler is None else _read_handler(handler, context, port_names)

    return Lifecycle(post_start=hook("postStart"), pre_stop=hook("preStop"))


def _read_handler(h: _Reader, context: _PodContext, port_names: frozenset[str]) -> Handler | None:
    h.check_fields(_HANDLER_TYPES)
    present = [kind for kind in _HANDLER_TYPES if h.has(kind)]
    if not present:
        h.required(h.path, "must specify a handler type")
        return None
    for extra in present[1:]:
        h.forbidden(h.at(extra), "may not specify more than 1 handler type")
    kind = present[0]
    if kind == "tcpSocket":
        h.forbidden(h.at(kind), "tcpSocket is not supported as a lifecycle handler")
        return None
    body = h.obj(kind)
    if body is None:
        return None
    if kind == "exec":
        return _read_exec(body)
    if kind == "httpGet":
        return _read_http_get(body, port_names)
    return _read_sleep(body, context.grace_period)


def _read_exec(e: _Reader) -> ExecAction:
    e.check_fields({"command"})
    command = e.str_list("command")
    if _is_zero(e.get("command")):
        e.required(e.at("command"))
    return ExecAction(command)


def _read_http_get(g: _Reader, port_names: frozenset[str]) -> HTTPGetAction:
    g.check_fields({"path", "port", "host", "scheme", "httpHeaders"})
    path = g.str_or("path", "/")
    if not path.startswith("/"):
        g.invalid(g.at("path"), path, 'must start with "/"')
    return HTTPGetAction(
        port=_read_handler_port(g, port_names),
        path=path,
        host=g.opt_str("host") or None,
        scheme=_read_enum(g, "scheme", _SCHEMES, "HTTP"),
        headers=tuple(_read_header(h) for h in g.obj_list("httpHeaders")),
    )


def _read_handler_port(g: _Reader, port_names: frozenset[str]) -> int | str:
    """A port number, or the name of one of this container's ports (ValidatePortNumOrName)."""
    port = g.get("port")
    path = g.at("port")
    if port is None:
        g.required(path)
        return 0
    if isinstance(port, bool) or not isinstance(port, int | str):
        g.invalid(path, port, "must be an integer or a string")
        return 0
    if isinstance(port, int):
        if not 1 <= port <= 65535:
            g.invalid(path, port, _PORT_RANGE_MSG)
        return port
    name_errors = _port_name_errors(port)
    for message in name_errors:
        g.invalid(path, port, message)
    if not name_errors and port not in port_names:
        # The API server stops at syntax; the kubelet would fail to resolve it later.
        g.invalid(path, port, "must be the name of one of this container's ports")
    return port


def _read_header(h: _Reader) -> HTTPHeader:
    h.check_fields({"name", "value"})
    name = h.req_str("name")
    if name and not re.fullmatch(_HTTP_HEADER_NAME_FMT, name):
        message = _regex_error(_HTTP_HEADER_NAME_MSG, _HTTP_HEADER_NAME_FMT, "X-Header-Name")
        h.invalid(h.at("name"), name, message)
    return HTTPHeader(name, h.str_or("value", ""))


def _read_sleep(s: _Reader, grace_period: int | None) -> SleepAction:
    s.check_fields({"seconds"})
    seconds = s.req_int("seconds")
    if seconds is None:
        return SleepAction(0)
    # Kubernetes 1.34: equal to the grace period passes; the error sits on the sleep itself.
    if grace_period is not None and not 0 <= seconds <= grace_period:
        detail = (
            f"must be non-negative and less than terminationGracePeriodSeconds ({grace_period})"
        )
        s.invalid(s.path, seconds, detail)
    return SleepAction(seconds)
