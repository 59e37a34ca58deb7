"""Readers for a Pod and its pod-level objects (metadata, spec, DNS, pod security
context, volumes), outermost first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeletlite.manifest.container import _PodContext, _read_amount, _read_containers
from kubeletlite.manifest.errors import NOT_SUPPORTED, ErrorType, FieldError
from kubeletlite.manifest.formats import (
    _ID_RANGE_MSG,
    _IP_MSG,
    _NEGATIVE_MSG,
    _byte_len,
    _dns_label_errors,
    _dns_subdomain_errors,
    _is_ip,
    _is_zero,
    _label_value_errors,
    _qualified_name_errors,
)
from kubeletlite.manifest.model import (
    DNSConfig,
    EmptyDirVolume,
    HostPathVolume,
    Pod,
    PodSecurityContext,
    PodSpec,
    Volume,
    VolumeSource,
    _derive_uid,
)
from kubeletlite.manifest.reader import (
    _DNS_POLICIES,
    _HOST_PATH_TYPES,
    _MAX_ANNOTATIONS_BYTES,
    _MAX_NAMESERVERS,
    _MAX_SEARCH_CHARS,
    _MAX_SEARCHES,
    _MEDIA,
    _METADATA_FIELDS,
    _METADATA_SILENT,
    _METADATA_UNSUPPORTED,
    _METADATA_WARNED,
    _POD_SECURITY_CONTEXT_FIELDS,
    _POD_SECURITY_CONTEXT_UNSUPPORTED,
    _RESTART_POLICIES,
    _SPEC_FIELDS,
    _SPEC_UNSUPPORTED,
    _SPEC_WARNED,
    _VOLUME_TYPES,
    _check_absolute,
    _read_dns_label,
    _read_enum,
    _read_id,
    _Reader,
    _Sink,
)

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
