"""Kubernetes ``v1`` Pod manifests: the model kubelet-lite runs, and a strict loader.

:func:`load_pods` turns YAML text into frozen dataclasses, checking every document the
way the API server would: strict field decoding (``fieldValidation=Strict``), defaulting,
then ``ValidatePod``, narrowed to what kubelet-lite can honour. Errors are collected,
never raised one at a time: a :class:`ManifestError` carries every problem of every
document, each rendered exactly as Kubernetes' ``field.Error`` renders it, so messages
read like ``kubectl apply`` output.

Each field falls in one of five groups:

* understood: parsed into the model and validated;
* ignored silently: server bookkeeping such as ``status`` or ``metadata.resourceVersion``;
* ignored with a warning: concerns of the scheduler or API server, such as ``spec.nodeName``;
* not supported: Pod semantics kubelet-lite cannot honour (probes, init containers, ...).
  These are rejected, so a pod never runs with part of its definition silently dropped;
* anything else: an unknown field, as with strict decoding.

An ignored or unsupported field holding its zero value (null, false, 0, "", [] or {})
counts as absent, as it does once Go has decoded the JSON: ``hostPID: false`` is fine.
A null value counts as absent for every field.

Nothing here does I/O: the caller reads the file and passes its text.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, NoReturn, TypeAlias

import yaml
from yaml.composer import ComposerError

from kubeletlite.quantity import (
    FORMAT_ERROR,
    QuantityError,
    cpu_to_millicores,
    parse_quantity,
    to_bytes,
)

__all__ = [
    "OMITTED",
    "Capabilities",
    "Container",
    "ContainerPort",
    "DNSConfig",
    "EmptyDirVolume",
    "EnvVar",
    "ErrorType",
    "ExecAction",
    "FieldError",
    "HTTPGetAction",
    "HTTPHeader",
    "Handler",
    "HostPathVolume",
    "Lifecycle",
    "LoadResult",
    "ManifestError",
    "Pod",
    "PodSecurityContext",
    "PodSpec",
    "Resources",
    "SecurityContext",
    "SleepAction",
    "Volume",
    "VolumeMount",
    "VolumeSource",
    "container_hash",
    "default_pull_policy",
    "image_has_tag_or_digest",
    "load_pods",
    "resolve_port",
]

# ---------------------------------------------------------------------------
# The model. Frozen and slotted; sequences are tuples. The only mutable parts are
# Pod.labels and Pod.annotations (plain dicts, for convenient lookups): treat them
# as read-only. They are left out of hash() so a Pod stays hashable.
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecAction:
    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HTTPHeader:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class HTTPGetAction:
    port: int | str  # as written: a number, or the name of one of the container's ports
    path: str = "/"
    host: str | None = None  # None: the pod's IP
    scheme: str = "HTTP"
    headers: tuple[HTTPHeader, ...] = ()


@dataclass(frozen=True, slots=True)
class SleepAction:
    seconds: int


Handler: TypeAlias = ExecAction | HTTPGetAction | SleepAction


@dataclass(frozen=True, slots=True)
class Lifecycle:
    post_start: Handler | None = None
    pre_stop: Handler | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerPort:
    container_port: int
    name: str | None = None
    host_port: int | None = None  # None: not published on the host
    protocol: str = "TCP"
    host_ip: str | None = None


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str = ""
    mount_propagation: str | None = None  # None (unset), "None", "HostToContainer", "Bidirectional"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """Requests default to the limit when only the limit is given, as Kubernetes defaults."""

    cpu_request_millis: int | None = None
    cpu_limit_millis: int | None = None
    memory_request_bytes: int | None = None
    memory_limit_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool = False
    privileged: bool = False
    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities = Capabilities()


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: tuple[int, ...] = ()
    fs_group: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    name: str
    image: str
    image_pull_policy: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[EnvVar, ...] = ()  # names are unique: a later duplicate has replaced the value
    working_dir: str = ""
    ports: tuple[ContainerPort, ...] = ()
    volume_mounts: tuple[VolumeMount, ...] = ()
    resources: Resources = Resources()
    security_context: SecurityContext = SecurityContext()
    lifecycle: Lifecycle = Lifecycle()
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    termination_message_path: str = "/dev/termination-log"
    termination_message_policy: str = "File"


@dataclass(frozen=True, slots=True)
class HostPathVolume:
    path: str
    type: str = ""  # "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, ...


@dataclass(frozen=True, slots=True)
class EmptyDirVolume:
    medium: str = ""  # "" (node disk) or "Memory" (tmpfs)
    size_limit_bytes: int | None = None


VolumeSource: TypeAlias = HostPathVolume | EmptyDirVolume


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    source: VolumeSource


@dataclass(frozen=True, slots=True)
class DNSConfig:
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PodSpec:
    containers: tuple[Container, ...]
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    host_network: bool = False
    volumes: tuple[Volume, ...] = ()
    security_context: PodSecurityContext = PodSecurityContext()
    hostname: str | None = None
    dns_policy: str = "ClusterFirst"
    dns_config: DNSConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pod:
    name: str
    namespace: str = "default"
    uid: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    spec: PodSpec
    source: str = "<stdin>"  # where the manifest came from, e.g. its file path

    @property
    def full_name(self) -> str:
        """``name_namespace``, the kubelet's ``kubecontainer.GetPodFullName``."""
        return f"{self.name}_{self.namespace}"

    @property
    def spec_hash(self) -> str:
        """16 hex digits identifying the defaulted spec; changes whenever the spec does."""
        return _digest(self.spec)

    def describe(self) -> str:
        """``name_namespace(uid)``, the shape of the kubelet's ``format.Pod`` in logs."""
        return f"{self.full_name}({self.uid})"


@dataclass(frozen=True, slots=True)
class LoadResult:
    pods: tuple[Pod, ...]
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Errors, rendered like k8s.io/apimachinery/pkg/util/validation/field.Error.
# ---------------------------------------------------------------------------


class ErrorType(StrEnum):
    NOT_FOUND = "Not found"
    REQUIRED = "Required value"
    DUPLICATE = "Duplicate value"
    INVALID = "Invalid value"
    UNSUPPORTED = "Unsupported value"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "Too long"
    UNKNOWN_FIELD = "Unknown field"  # strict decoding: rendered as `unknown field "<path>"`
    YAML = "invalid YAML"  # the text does not parse; path is "line L, column C"


class _Omitted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OMITTED"


# FieldError.value when the error has no value to show.
OMITTED: Final = _Omitted()

# Kubernetes never prints the value of these.
_VALUELESS: Final = frozenset(
    {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.YAML}
)

NOT_SUPPORTED: Final = "not supported by kubelet-lite"
IGNORED: Final = "ignored by kubelet-lite"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field; ``str()`` gives Kubernetes' wording."""

    path: str
    type: str
    detail: str = ""
    value: object = OMITTED
    document: int | None = None  # index in a multi-document stream, else None

    def __str__(self) -> str:
        if self.type == ErrorType.UNKNOWN_FIELD:
            return f"unknown field {_go_quote(self.path)}"
        body = str(self.type)
        if self.type not in _VALUELESS and self.value is not OMITTED:
            body += f": {_go_value(self.value)}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.path}: {body}" if self.path else body


class ManifestError(ValueError):
    """Every error found in one manifest text, one per line, prefixed by the source."""

    def __init__(self, errors: Iterable[FieldError], source: str = "<stdin>") -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{self._prefix(e)}: {e}" for e in self.errors)

    def _prefix(self, error: FieldError) -> str:
        return self.source if error.document is None else f"{self.source}[{error.document}]"


def _go_quote(text: str) -> str:
    """``text`` quoted as Go's ``%q`` (strconv.Quote) would."""
    out = ['"']
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_value(value: object) -> str:
    """A bad value as field.Error prints it: %v for numbers, %q for strings, else JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_quote(value)
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _go_float(value: float) -> str:
    # Go's %v: shortest digits, e-notation when the exponent is < -4 or >= 6.
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = Decimal(repr(value))
    exponent = shortest.adjusted()
    if -4 <= exponent < 6:
        text = format(shortest, "f")
        return text.removesuffix(".0") if "." in text else text
    digits = "".join(map(str, shortest.as_tuple().digits)).rstrip("0") or "0"
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e{exponent:+03d}"


# ---------------------------------------------------------------------------
# Pure helpers the kubelet-lite runtime also uses.
# ---------------------------------------------------------------------------


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest). A colon before the last '/' is a registry port."""
    name, at, digest = image.partition("@")
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag or None, (digest if at else None) or None


def image_has_tag_or_digest(image: str) -> bool:
    """Whether ``image`` names a tag or a digest (``127.0.0.1:5000/busybox`` has neither)."""
    _, tag, digest = _split_image(image)
    return tag is not None or digest is not None


def default_pull_policy(image: str) -> str:
    """``Always`` for an untagged or ``:latest`` image without digest, else ``IfNotPresent``."""
    _, tag, digest = _split_image(image)
    return "Always" if digest is None and tag in (None, "latest") else "IfNotPresent"


def resolve_port(action: HTTPGetAction, container: Container) -> int:
    """The port number an httpGet handler targets, as the kubelet's ``ResolveContainerPort``.

    A string is looked up among the container's named ports first, then read as a
    decimal number. Raises ``ValueError`` when it resolves to nothing in 1..65535.
    """
    port = action.port
    if isinstance(port, str):
        named = [p.container_port for p in container.ports if p.name == port]
        if named:
            port = named[0]
        elif re.fullmatch("[0-9]{1,5}", port):
            port = int(port)
        else:
            raise ValueError(f"container {container.name!r} has no port named {port!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} of container {container.name!r} is not in 1..65535")
    return port


def container_hash(pod: Pod, container_name: str) -> str:
    """16 hex digits identifying one container's defaulted definition (the kubelet's
    ``HashContainer``): a change means the running container is out of date.

    Raises ``KeyError`` when the pod has no such container.
    """
    for container in pod.spec.containers:
        if container.name == container_name:
            return _digest(container)
    raise KeyError(container_name)


def _digest(value: object) -> str:
    return hashlib.sha256(_canonical_json(value)).hexdigest()[:16]


def _canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, ASCII: equal data always gives equal bytes."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":")).encode("ascii")


def _plain(value: object) -> Any:
    """``value`` as JSON-compatible data: YAML's extra types and model dataclasses included."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {_key_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # The class name keeps union members apart (an ExecAction vs a SleepAction).
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"@type": type(value).__name__, **fields}
    return str(value)


def _key_text(key: object) -> str:
    """A YAML mapping key as the JSON key Kubernetes' YAML-to-JSON step makes of it."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return _go_value(key)
    return str(key)


def _derive_uid(document: Mapping[Any, Any], source: str) -> str:
    """A UUID-shaped digest of the manifest and its source, like a static pod's config hash.

    ``status`` is left out: it describes a pod, it does not define one.
    """
    definition = {k: v for k, v in document.items() if k != "status"}
    digest = hashlib.sha256(
        source.encode("utf-8", "surrogatepass") + b"\0" + _canonical_json(definition)
    ).digest()
    return str(uuid.UUID(bytes=digest[:16]))


# ---------------------------------------------------------------------------
# Value formats, with Kubernetes' messages (k8s.io/apimachinery/pkg/util/validation).
# ---------------------------------------------------------------------------

_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT: Final = f"({_QUALIFIED_NAME_FMT})?"
_HTTP_HEADER_NAME_FMT: Final = "[-A-Za-z0-9]+"

_DNS1123_LABEL_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_HTTP_HEADER_NAME_MSG: Final = "a valid HTTP header must consist of alphanumeric characters or '-'"

_PORT_RANGE_MSG: Final = "must be between 1 and 65535, inclusive"
_ID_RANGE_MSG: Final = "must be between 0 and 2147483647, inclusive"
_NEGATIVE_MSG: Final = "must be greater than or equal to 0"
_IP_MSG: Final = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_ABSOLUTE_MSG: Final = "must be an absolute path"
_INT64_MAX: Final = 2**63 - 1


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, down to its doubled space between examples."""
    shown = "" if not examples else "e.g. " + " or ".join(f"'{e}', " for e in examples)
    return f"{message} ({shown}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))  # Go counts bytes


def _dns_label_errors(value: str) -> list[str]:
    errors = [_max_len_error(63)] if _byte_len(value) > 63 else []
    if not re.fullmatch(_DNS1123_LABEL_FMT, value):
        if re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
            errors.append("must not contain dots")
        else:
            errors.append(
                _regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc")
            )
    return errors


def _dns_subdomain_errors(value: str) -> list[str]:
    errors = [_max_len_error(253)] if _byte_len(value) > 253 else []
    if not re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def _qualified_name_errors(value: str) -> list[str]:
    parts = value.split("/")
    name_regex = _regex_error(
        _QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
    )
    if len(parts) > 2:
        return [
            f"a qualified name {name_regex} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    errors: list[str] = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(f"prefix part {msg}" for msg in _dns_subdomain_errors(prefix))
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    elif _byte_len(name) > 63:
        errors.append(f"name part {_max_len_error(63)}")
    if not re.fullmatch(_QUALIFIED_NAME_FMT, name):
        errors.append(f"name part {name_regex}")
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors = [_max_len_error(63)] if _byte_len(value) > 63 else []
    if not re.fullmatch(_LABEL_VALUE_FMT, value):
        errors.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors


def _port_name_errors(value: str) -> list[str]:
    """validation.IsValidPortName: an IANA_SVC_NAME."""
    errors = [_max_len_error(15)] if len(value) > 15 else []
    if not re.fullmatch("[-a-z0-9]+", value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _env_name_errors(value: str) -> list[str]:
    """validation.IsRelaxedEnvVarName."""
    if all(" " <= char <= "~" and char != "=" for char in value):
        return []
    return ["must consist only of printable ASCII characters except '='"]


def _is_ip(text: str) -> bool:
    if "%" in text:  # Python accepts IPv6 zone indexes; Kubernetes does not
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_zero(value: object) -> bool:
    """Whether Go would decode ``value`` to its zero value (what omitempty leaves out)."""
    if value is None or value is False or value == "":
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, list | dict) and not value


# ---------------------------------------------------------------------------
# The reader: walks one JSON object of a document, knowing its field path, and
# reports problems into a sink shared by the whole document.
# ---------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.warnings: list[str] = []


class _Reader:
    """One JSON object at ``path``. Typed reads report bad types and return a fallback."""

    __slots__ = ("data", "path", "sink")

    def __init__(self, sink: _Sink, path: str, data: Mapping[Any, Any]) -> None:
        self.sink = sink
        self.path = path
        self.data = data

    # Paths and reporting.

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def report(self, path: str, kind: ErrorType, detail: str = "", value: object = OMITTED) -> None:
        self.sink.errors.append(FieldError(path, kind, detail, value))

    def required(self, path: str, detail: str = "") -> None:
        self.report(path, ErrorType.REQUIRED, detail)

    def invalid(self, path: str, value: object, detail: str) -> None:
        self.report(path, ErrorType.INVALID, detail, value)

    def forbidden(self, path: str, detail: str) -> None:
        self.report(path, ErrorType.FORBIDDEN, detail)

    def unsupported(self, path: str, value: object, supported: Iterable[str]) -> None:
        detail = "supported values: " + ", ".join(_go_quote(s) for s in supported)
        self.report(path, ErrorType.UNSUPPORTED, detail, value)

    def warn(self, path: str, detail: str) -> None:
        self.sink.warnings.append(f"{path}: {detail}")

    # Structure.

    def check_fields(
        self,
        known: Collection[str],
        *,
        silent: Collection[str] = (),
        warn: Collection[str] = (),
        unsupported: Collection[str] = (),
    ) -> None:
        """Report every key that is neither known nor silently ignored."""
        for raw_key, value in self.data.items():
            key = _key_text(raw_key)
            if isinstance(raw_key, str) and (key in known or key in silent):
                continue
            if isinstance(raw_key, str) and (key in warn or key in unsupported):
                if _is_zero(value):
                    continue
                if key in warn:
                    self.warn(self.at(key), IGNORED)
                else:
                    self.forbidden(self.at(key), NOT_SUPPORTED)
                continue
            self.report(self.at(key), ErrorType.UNKNOWN_FIELD)

    def get(self, key: str) -> Any:
        """The raw value, or None when absent or null."""
        return self.data.get(key)

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    # Typed reads.

    def opt_str(self, key: str) -> str | None:
        value = self.get(key)
        if value is None or isinstance(value, str):
            return value
        self.invalid(self.at(key), value, "must be a string")
        return None

    def str_or(self, key: str, default: str) -> str:
        """The string, with "" and absence both meaning ``default`` (Go defaulting)."""
        return self.opt_str(key) or default

    def req_str(self, key: str) -> str:
        """The string, or "" after reporting Required when absent or empty."""
        value = self.get(key)
        if value is None or value == "":
            self.required(self.at(key))
            return ""
        return self.opt_str(key) or ""

    def opt_int(self, key: str) -> int | None:
        value = self.get(key)
        if value is None:
            return None
        problem = _int_problem(value)
        if problem:
            self.invalid(self.at(key), value, problem)
            return None
        return int(value)

    def req_int(self, key: str) -> int | None:
        if not self.has(key):
            self.required(self.at(key))
            return None
        return self.opt_int(key)

    def opt_bool(self, key: str) -> bool | None:
        value = self.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.invalid(self.at(key), value, "must be a boolean")
        return None

    def flag(self, key: str) -> bool:
        return self.opt_bool(key) or False

    def str_list(self, key: str) -> tuple[str, ...]:
        """The strings; () if any element is not one, so later indexes never shift."""
        items = self._list(key)
        bad = [(i, v) for i, v in enumerate(items) if not isinstance(v, str)]
        for i, value in bad:
            self.invalid(f"{self.at(key)}[{i}]", value, "must be a string")
        return () if bad else tuple(items)

    def int_list(self, key: str) -> tuple[int, ...]:
        items = self._list(key)
        bad = [(i, v, p) for i, v in enumerate(items) if (p := _int_problem(v))]
        for i, value, problem in bad:
            self.invalid(f"{self.at(key)}[{i}]", value, problem)
        return () if bad else tuple(int(v) for v in items)

    def str_map(self, key: str) -> dict[str, str]:
        value = self.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.invalid(self.at(key), value, "must be an object")
            return {}
        result: dict[str, str] = {}
        for raw_key, item in value.items():
            name = _key_text(raw_key)
            if isinstance(item, str):
                result[name] = item
            else:
                self.invalid(f"{self.at(key)}[{name}]", item, "must be a string")
        return result

    def obj(self, key: str) -> _Reader | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.invalid(self.at(key), value, "must be an object")
            return None
        return _Reader(self.sink, self.at(key), value)

    def obj_list(self, key: str) -> list[_Reader]:
        readers = []
        for i, item in enumerate(self._list(key)):
            path = f"{self.at(key)}[{i}]"
            if isinstance(item, Mapping):
                readers.append(_Reader(self.sink, path, item))
            else:
                self.invalid(path, item, "must be an object")
        return readers

    def _list(self, key: str) -> list[Any]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.invalid(self.at(key), value, "must be a list")
            return []
        return value


def _int_problem(value: object) -> str:
    """Why ``value`` is not an int64, or "" when it is one. Booleans are not integers."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if not -(2**63) <= value <= _INT64_MAX:
        return "must fit in a 64-bit signed integer"
    return ""


def _read_enum(r: _Reader, key: str, allowed: Sequence[str], default: str) -> str:
    """A string from ``allowed``; absent or "" means ``default``."""
    value = r.str_or(key, default)
    if value not in allowed:
        r.unsupported(r.at(key), value, allowed)
    return value


def _read_dns_label(r: _Reader, key: str) -> str:
    value = r.req_str(key)
    if value:
        for message in _dns_label_errors(value):
            r.invalid(r.at(key), value, message)
    return value


def _check_absolute(r: _Reader, key: str, value: str) -> None:
    if value and not value.startswith("/"):
        r.invalid(r.at(key), value, _ABSOLUTE_MSG)


def _read_id(r: _Reader, key: str) -> int | None:
    """A user or group ID: 0..2147483647, as validation.IsValidUserID."""
    value = r.opt_int(key)
    if value is not None and not 0 <= value <= 2147483647:
        r.invalid(r.at(key), value, _ID_RANGE_MSG)
    return value


# ---------------------------------------------------------------------------
# Field catalogues.
# ---------------------------------------------------------------------------

_RESTART_POLICIES: Final = ("Always", "Never", "OnFailure")
_DNS_POLICIES: Final = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
_PULL_POLICIES: Final = ("Always", "IfNotPresent", "Never")
_PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
_MESSAGE_POLICIES: Final = ("FallbackToLogsOnError", "File")
_PROPAGATIONS: Final = ("Bidirectional", "HostToContainer", "None")
_SCHEMES: Final = ("HTTP", "HTTPS")
_MEDIA: Final = ("", "Memory")
_HOST_PATH_TYPES: Final = (
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
)
_RESOURCE_NAMES: Final = ("cpu", "ephemeral-storage", "memory")


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _ordered_names(words: str) -> tuple[str, ...]:
    return tuple(words.split())


_METADATA_FIELDS: Final = _names("name namespace uid labels annotations")
# Written by the API server; present whenever a manifest came from `kubectl get -o yaml`.
_METADATA_SILENT: Final = _names("creationTimestamp resourceVersion generation managedFields")
_METADATA_WARNED: Final = _names("ownerReferences finalizers")
# A static pod needs a fixed name; nothing here would generate one.
_METADATA_UNSUPPORTED: Final = _names("generateName")

_SPEC_FIELDS: Final = _names(
    """containers restartPolicy terminationGracePeriodSeconds hostNetwork volumes
    securityContext hostname dnsPolicy dnsConfig"""
)
# Meaningful to a scheduler or an API server only.
_SPEC_WARNED: Final = _names(
    """nodeName nodeSelector affinity tolerations schedulerName priority priorityClassName
    serviceAccountName serviceAccount automountServiceAccountToken enableServiceLinks
    preemptionPolicy topologySpreadConstraints imagePullSecrets readinessGates subdomain"""
)
_SPEC_UNSUPPORTED: Final = _names(
    """initContainers ephemeralContainers hostPID hostIPC shareProcessNamespace
    runtimeClassName overhead os hostAliases activeDeadlineSeconds setHostnameAsFQDN
    hostUsers resourceClaims schedulingGates resources"""
)

_CONTAINER_FIELDS: Final = _names(
    """name image imagePullPolicy command args env workingDir ports volumeMounts resources
    securityContext lifecycle stdin stdinOnce tty terminationMessagePath
    terminationMessagePolicy"""
)
_CONTAINER_UNSUPPORTED: Final = _names(
    """livenessProbe readinessProbe startupProbe resizePolicy restartPolicy
    restartPolicyRules envFrom volumeDevices"""
)
_SECURITY_CONTEXT_FIELDS: Final = _names(
    """runAsUser runAsGroup runAsNonRoot readOnlyRootFilesystem privileged
    allowPrivilegeEscalation capabilities"""
)
_SECURITY_CONTEXT_UNSUPPORTED: Final = _names(
    "seLinuxOptions seccompProfile appArmorProfile procMount windowsOptions"
)
_POD_SECURITY_CONTEXT_FIELDS: Final = _names(
    "runAsUser runAsGroup runAsNonRoot supplementalGroups fsGroup"
)
_POD_SECURITY_CONTEXT_UNSUPPORTED: Final = _names(
    """seLinuxOptions sysctls seccompProfile fsGroupChangePolicy supplementalGroupsPolicy
    windowsOptions appArmorProfile seLinuxChangePolicy"""
)

# In the order Kubernetes' validateHandler checks them: the first one present is the
# handler, each further one is an error. tcpSocket is recognised only to reject it.
_HANDLER_TYPES: Final = ("exec", "httpGet", "tcpSocket", "sleep")

# Every Kubernetes volume source, in validateVolumeSource's order; kubelet-lite can
# honour the first two only.
_VOLUME_TYPES: Final = _ordered_names(
    """emptyDir hostPath gitRepo gcePersistentDisk awsElasticBlockStore secret nfs iscsi
    glusterfs flocker persistentVolumeClaim rbd flexVolume cinder cephfs quobyte downwardAPI
    fc azureFile vsphereVolume photonPersistentDisk portworxVolume azureDisk storageos
    projected scaleIO configMap csi ephemeral image"""
)

_MAX_ANNOTATIONS_BYTES: Final = 256 * 1024
_MAX_NAMESERVERS: Final = 3
_MAX_SEARCHES: Final = 32
_MAX_SEARCH_CHARS: Final = 2048


# ---------------------------------------------------------------------------
# Readers, one per object type, outermost first.
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Metadata:
    name: str
    namespace: str
    uid: str | None
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True, slots=True)
class _PodContext:
    """The pod-level facts that container checks depend on."""

    grace_period: int | None  # None when invalid: sleep checks then stay quiet
    host_network: bool
    volume_names: frozenset[str]


def _read_pod(document: object, sink: _Sink, source: str) -> Pod | None:
    """The pod a document defines, or None once its errors are in ``sink``."""
    if not isinstance(document, Mapping):
        sink.errors.append(FieldError("", ErrorType.INVALID, "must be an object", document))
        return None
    r = _Reader(sink, "", document)
    if not _check_type_meta(r):
        return None  # e.g. a Deployment: its fields would only add noise
    r.check_fields({"apiVersion", "kind", "metadata", "spec"}, silent={"status"})
    metadata = _read_metadata(r)
    spec = _read_spec(r)
    if sink.errors or spec is None:
        return None
    return Pod(
        name=metadata.name,
        namespace=metadata.namespace,
        uid=metadata.uid or _derive_uid(document, source),
        labels=metadata.labels,
        annotations=metadata.annotations,
        spec=spec,
        source=source,
    )


def _check_type_meta(r: _Reader) -> bool:
    errors_before = len(r.sink.errors)
    for key, expected in (("apiVersion", "v1"), ("kind", "Pod")):
        value = r.req_str(key)
        if value and value != expected:
            r.unsupported(key, value, [expected])
    return len(r.sink.errors) == errors_before


def _read_metadata(r: _Reader) -> _Metadata:
    m = r.obj("metadata")
    if m is None:
        if not r.has("metadata"):
            r.required("metadata.name")
        return _Metadata("", "default", None, {}, {})
    m.check_fields(
        _METADATA_FIELDS,
        silent=_METADATA_SILENT,
        warn=_METADATA_WARNED,
        unsupported=_METADATA_UNSUPPORTED,
    )
    name = m.req_str("name")
    for message in _dns_subdomain_errors(name) if name else ():
        m.invalid(m.at("name"), name, message)
    namespace = m.str_or("namespace", "default")
    for message in _dns_label_errors(namespace):
        m.invalid(m.at("namespace"), namespace, message)
    return _Metadata(
        name=name,
        namespace=namespace,
        uid=m.opt_str("uid") or None,
        labels=_read_labels(m),
        annotations=_read_annotations(m),
    )


def _read_labels(m: _Reader) -> dict[str, str]:
    labels = m.str_map("labels")
    for key, value in labels.items():
        path = f"{m.at('labels')}[{key}]"
        for message in _qualified_name_errors(key):
            m.invalid(path, key, message)
        for message in _label_value_errors(value):
            m.invalid(path, value, message)
    return labels


def _read_annotations(m: _Reader) -> dict[str, str]:
    annotations = m.str_map("annotations")
    for key in annotations:
        # Kubernetes checks annotation keys case-insensitively.
        for message in _qualified_name_errors(key.lower()):
            m.invalid(f"{m.at('annotations')}[{key}]", key, message)
    size = sum(_byte_len(k) + _byte_len(v) for k, v in annotations.items())
    if size > _MAX_ANNOTATIONS_BYTES:
        detail = f"may not be more than {_MAX_ANNOTATIONS_BYTES} bytes"
        m.report(m.at("annotations"), ErrorType.TOO_LONG, detail)
    return annotations


def _read_spec(r: _Reader) -> PodSpec | None:
    s = r.obj("spec")
    if s is None:
        if not r.has("spec"):
            r.required("spec.containers")
        return None
    s.check_fields(_SPEC_FIELDS, warn=_SPEC_WARNED, unsupported=_SPEC_UNSUPPORTED)
    grace_period = _read_grace_period(s)
    host_network = s.flag("hostNetwork")
    volumes = _read_volumes(s)
    context = _PodContext(grace_period, host_network, frozenset(v.name for v in volumes))
    containers = _read_containers(s, context)
    dns_policy = _read_enum(s, "dnsPolicy", _DNS_POLICIES, "ClusterFirst")
    return PodSpec(
        containers=containers,
        restart_policy=_read_enum(s, "restartPolicy", _RESTART_POLICIES, "Always"),
        termination_grace_period_seconds=30 if grace_period is None else grace_period,
        host_network=host_network,
        volumes=volumes,
        security_context=_read_pod_security_context(s),
        hostname=_read_hostname(s),
        dns_policy=dns_policy,
        dns_config=_read_dns_config(s, dns_policy),
    )


def _read_grace_period(s: _Reader) -> int | None:
    """The grace period (30 when absent), or None when it is invalid (already reported)."""
    key = "terminationGracePeriodSeconds"
    if not s.has(key):
        return 30
    seconds = s.opt_int(key)
    if seconds is not None and seconds < 0:
        s.invalid(s.at(key), seconds, _NEGATIVE_MSG)
        return None
    return seconds


def _read_hostname(s: _Reader) -> str | None:
    hostname = s.opt_str("hostname") or None
    for message in _dns_label_errors(hostname) if hostname else ():
        s.invalid(s.at("hostname"), hostname, message)
    return hostname


def _read_dns_config(s: _Reader, policy: str) -> DNSConfig | None:
    d = s.obj("dnsConfig")
    if d is None:
        if policy == "None" and not s.has("dnsConfig"):
            s.required(s.at("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None")
        return None
    d.check_fields({"nameservers", "searches", "options"})
    nameservers = d.str_list("nameservers")
    if policy == "None" and _is_zero(d.get("nameservers")):
        detail = "must provide at least one DNS nameserver when `dnsPolicy` is None"
        d.required(d.at("nameservers"), detail)
    if len(nameservers) > _MAX_NAMESERVERS:
        detail = f"must not have more than {_MAX_NAMESERVERS} nameservers"
        d.invalid(d.at("nameservers"), list(nameservers), detail)
    for i, nameserver in enumerate(nameservers):
        if not _is_ip(nameserver):
            d.invalid(f"{d.at('nameservers')}[{i}]", nameserver, _IP_MSG)
    return DNSConfig(nameservers, _read_searches(d), _read_dns_options(d))


def _read_searches(d: _Reader) -> tuple[str, ...]:
    searches = d.str_list("searches")
    if len(searches) > _MAX_SEARCHES:
        detail = f"must not have more than {_MAX_SEARCHES} search paths"
        d.invalid(d.at("searches"), list(searches), detail)
    if len(" ".join(searches)) > _MAX_SEARCH_CHARS:
        detail = (
            f"must not have more than {_MAX_SEARCH_CHARS} characters (including spaces) "
            "in the search list"
        )
        d.invalid(d.at("searches"), list(searches), detail)
    for i, search in enumerate(searches):
        domain = search.removesuffix(".")  # a trailing dot is fine
        for message in _dns_subdomain_errors(domain):
            d.invalid(f"{d.at('searches')}[{i}]", domain, message)
    return searches


def _read_dns_options(d: _Reader) -> tuple[tuple[str, str | None], ...]:
    options = []
    for o in d.obj_list("options"):
        o.check_fields({"name", "value"})
        options.append((o.req_str("name"), o.opt_str("value")))
    return tuple(options)


def _read_pod_security_context(s: _Reader) -> PodSecurityContext:
    c = s.obj("securityContext")
    if c is None:
        return PodSecurityContext()
    c.check_fields(_POD_SECURITY_CONTEXT_FIELDS, unsupported=_POD_SECURITY_CONTEXT_UNSUPPORTED)
    groups = c.int_list("supplementalGroups")
    for i, group in enumerate(groups):
        if not 0 <= group <= 2147483647:
            c.invalid(f"{c.at('supplementalGroups')}[{i}]", group, _ID_RANGE_MSG)
    return PodSecurityContext(
        run_as_user=_read_id(c, "runAsUser"),
        run_as_group=_read_id(c, "runAsGroup"),
        run_as_non_root=c.opt_bool("runAsNonRoot"),
        supplemental_groups=groups,
        fs_group=_read_id(c, "fsGroup"),
    )


# Volumes.


def _read_volumes(s: _Reader) -> tuple[Volume, ...]:
    volumes = []
    seen: set[str] = set()
    for v in s.obj_list("volumes"):
        volume = _read_volume(v)
        if volume.name in seen:
            v.report(v.at("name"), ErrorType.DUPLICATE, value=volume.name)
        elif volume.name:
            seen.add(volume.name)
        volumes.append(volume)
    return tuple(volumes)


def _read_volume(v: _Reader) -> Volume:
    v.check_fields({"name", *_VOLUME_TYPES})
    name = _read_dns_label(v, "name")
    # A stand-in source after an error keeps the name, so mounts of this volume
    # are not reported as well; the pod itself is discarded.
    return Volume(name, _read_volume_source(v) or EmptyDirVolume())


def _read_volume_source(v: _Reader) -> VolumeSource | None:
    present = [kind for kind in _VOLUME_TYPES if v.has(kind)]
    if not present:
        v.required(v.path, "must specify a volume type")
        return None
    for extra in present[1:]:
        v.forbidden(v.at(extra), "may not specify more than 1 volume type")
    kind = present[0]
    if kind not in ("hostPath", "emptyDir"):
        v.forbidden(v.at(kind), NOT_SUPPORTED)
        return None
    body = v.obj(kind)
    if body is None:
        return None
    return _read_host_path(body) if kind == "hostPath" else _read_empty_dir(body)


def _read_host_path(h: _Reader) -> HostPathVolume:
    h.check_fields({"path", "type"})
    path = h.req_str("path")
    _check_absolute(h, "path", path)
    if ".." in path.split("/"):
        h.invalid(h.at("path"), path, "must not contain '..'")
    return HostPathVolume(path, _read_enum(h, "type", _HOST_PATH_TYPES, ""))


def _read_empty_dir(e: _Reader) -> EmptyDirVolume:
    e.check_fields({"medium", "sizeLimit"})
    medium = _read_enum(e, "medium", _MEDIA, "")
    size = _read_amount(e, e.at("sizeLimit"), e.get("sizeLimit"), "memory")
    return EmptyDirVolume(medium, None if size is None else size.units)


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


# ---------------------------------------------------------------------------
# YAML, and the loader.
# ---------------------------------------------------------------------------

# Far beyond any real Pod manifest; they bound the work one document can cause.
_MAX_NODES: Final = 100_000
_MAX_DEPTH: Final = 100
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class _ManifestLoader(yaml.SafeLoader):
    """A SafeLoader that also rejects duplicate keys (as strict decoding does), aliases
    that make a document contain itself, and alias "bombs" that expand past any real
    manifest's size."""

    _depth: int = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # Composing recurses per level: stop early rather than at the recursion limit.
        if self._depth >= _MAX_DEPTH:
            mark = self.get_mark()  # where the scanner is: at or just past the culprit
            raise ComposerError(
                None, None, f"document is nested more than {_MAX_DEPTH} levels deep", mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _NodeCheck().size(node, 1)
        return node


class _NodeCheck:
    """Walks a composed document once, counting each node as often as aliases repeat it."""

    def __init__(self) -> None:
        self.sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
        self.active: set[int] = set()

    def size(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        known = self.sizes.get(id(node))
        if known is None:
            known = self._measure(node, depth)
        if depth + known[1] > _MAX_DEPTH:
            self._fail(node, f"document is nested more than {_MAX_DEPTH} levels deep")
        return known

    def _measure(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        if id(node) in self.active:
            self._fail(node, "found an alias that makes the document contain itself")
        self.active.add(id(node))
        if isinstance(node, yaml.MappingNode):
            self._check_unique_keys(node)
        total, height = 1, 0
        for child in _children(node):
            child_size, child_height = self.size(child, depth + 1)
            total, height = total + child_size, max(height, child_height + 1)
            if total > _MAX_NODES:
                self._fail(node, f"document expands to more than {_MAX_NODES} values")
        self.active.discard(id(node))
        self.sizes[id(node)] = (total, height)
        return total, height

    @staticmethod
    def _check_unique_keys(node: yaml.MappingNode) -> None:
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                if (key.tag, key.value) in seen:
                    _NodeCheck._fail(key, f"found duplicate key {_go_quote(str(key.value))}")
                seen.add((key.tag, key.value))

    @staticmethod
    def _fail(node: yaml.Node, problem: str) -> NoReturn:
        raise ComposerError(None, None, problem, node.start_mark)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _parse_documents(text: str, source: str) -> list[Any]:
    """Every document of ``text`` (None for an empty one); ManifestError if it is not YAML."""
    try:
        return list(yaml.load_all(text, Loader=_ManifestLoader))
    except yaml.MarkedYAMLError as error:
        raise ManifestError([_yaml_error(error)], source) from None
    # PyYAML lets some bad scalars escape as plain Python errors (a date such as
    # 2024-13-45, an integer of 5000 digits). RecursionError is belt and braces: the
    # loader stops deep nesting long before the recursion limit.
    except (yaml.YAMLError, ValueError, OverflowError, TypeError, RecursionError) as error:
        problem = " ".join(str(error).split()) or type(error).__name__
        raise ManifestError([FieldError("", ErrorType.YAML, problem)], source) from None


def _yaml_error(error: yaml.MarkedYAMLError) -> FieldError:
    mark = error.problem_mark or error.context_mark
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
    problem = error.problem or error.context or "cannot parse"
    if error.context and error.problem:
        problem = f"{problem} ({error.context})"
    return FieldError(where, ErrorType.YAML, problem)


def _claim_name(pod: Pod, index: int, defined_in: dict[tuple[str, str], int], sink: _Sink) -> bool:
    """Whether ``pod`` is the first of its namespace and name; a duplicate is an error."""
    first = defined_in.setdefault((pod.namespace, pod.name), index)
    if first != index:
        detail = f"pod {pod.namespace}/{pod.name} is already defined in document {first}"
        sink.errors.append(FieldError("metadata.name", ErrorType.DUPLICATE, detail, pod.name))
    return first == index


def load_pods(text: str, source: str = "<stdin>") -> LoadResult:
    """Parse and validate every Pod in a (multi-document) YAML text.

    ``source`` names the text in messages and feeds derived UIDs, so the same manifest
    from the same place always yields the same pod. Empty documents are skipped.
    Raises :class:`ManifestError` with every error of every document; warnings about
    ignored fields come back in the result, prefixed like errors. When the text holds
    several documents, prefixes carry the document's index in the stream (from 0,
    empty documents counted, so it matches the file).
    """
    documents = [(i, d) for i, d in enumerate(_parse_documents(text, source)) if d is not None]
    several = len(documents) > 1
    pods: list[Pod] = []
    errors: list[FieldError] = []
    warnings: list[str] = []
    defined_in: dict[tuple[str, str], int] = {}
    for index, document in documents:
        sink = _Sink()
        pod = _read_pod(document, sink, source)
        if pod is not None and _claim_name(pod, index, defined_in, sink):
            pods.append(pod)
        label = f"{source}[{index}]" if several else source
        warnings.extend(f"{label}: {warning}" for warning in sink.warnings)
        document_index = index if several else None
        errors.extend(dataclasses.replace(e, document=document_index) for e in sink.errors)
    if errors:
        raise ManifestError(errors, source)
    return LoadResult(tuple(pods), tuple(warnings))
