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

The package's modules, each using only those listed before it:

* :mod:`.errors`: :class:`FieldError`, :class:`ManifestError`, Go-style quoting;
* :mod:`.formats`: value-format checks, with Kubernetes' messages;
* :mod:`.model`: the frozen dataclasses, and the pure helpers the runtime uses;
* :mod:`.reader`: the field reader, and the field catalogues;
* :mod:`.container`, :mod:`.pod`: the readers, one per object type;
* :mod:`.loading`: YAML parsing and :func:`load_pods`.

Everything public is re-exported here: import it from ``kubeletlite.manifest``.
"""

from __future__ import annotations

from kubeletlite.manifest.errors import OMITTED, ErrorType, FieldError, ManifestError, go_quote
from kubeletlite.manifest.loading import load_pods
from kubeletlite.manifest.model import (
    Capabilities,
    Container,
    ContainerPort,
    DNSConfig,
    EmptyDirVolume,
    EnvVar,
    ExecAction,
    Handler,
    HostPathVolume,
    HTTPGetAction,
    HTTPHeader,
    Lifecycle,
    LoadResult,
    Pod,
    PodSecurityContext,
    PodSpec,
    Resources,
    SecurityContext,
    SleepAction,
    Volume,
    VolumeMount,
    VolumeSource,
    container_hash,
    default_pull_policy,
    image_has_tag_or_digest,
    resolve_port,
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
    "go_quote",
    "image_has_tag_or_digest",
    "load_pods",
    "resolve_port",
]
