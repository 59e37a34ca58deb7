"""The field reader that walks one JSON object of a document and reports into a
shared sink, its small typed-read helpers, and the field catalogues."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

from kubeletlite.manifest.errors import (
    IGNORED,
    NOT_SUPPORTED,
    OMITTED,
    ErrorType,
    FieldError,
    _key_text,
    go_quote,
)
from kubeletlite.manifest.formats import (
    _ABSOLUTE_MSG,
    _ID_RANGE_MSG,
    _INT64_MAX,
    _dns_label_errors,
    _is_zero,
)

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
        detail = "supported values: " + ", ".join(go_quote(s) for s in supported)
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
