"""Image references, normalised the way the kubelet expects.

Parsing follows distribution/reference (``ParseNormalizedNamed``) through
docker-image-py: ``busybox`` means ``docker.io/library/busybox:latest``,
``127.0.0.1:5000/busybox`` keeps its registry. Dockerd reports familiar
names (``busybox:1.35``); the CRI reports fully qualified ones, so every
name leaving the shim passes through :func:`qualify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docker_image import digest as _digest
from docker_image import reference as _reference

from shim.errors import InvalidArgument

# distribution allows a 255-byte name, plus a tag and a digest.
MAX_REFERENCE_LENGTH = 1024
_ID_PREFIX = re.compile(r"(sha256:)?[a-f0-9]{12,64}")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed, fully qualified image reference."""

    repository: str  # "docker.io/library/busybox"
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or 'latest'}"


def looks_like_id_prefix(value: str) -> bool:
    return _ID_PREFIX.fullmatch(value) is not None


def parse(value: str, field: str = "image.image") -> ImageRef:
    """Parse a user-supplied reference; an invalid one is an InvalidArgument naming ``field``."""
    if not value:
        raise InvalidArgument(f"{field}: must not be empty")
    if len(value) > MAX_REFERENCE_LENGTH:
        raise InvalidArgument(f"{field}: longer than {MAX_REFERENCE_LENGTH} characters")
    try:
        ref = _reference.Reference.parse_normalized_named(value)
    except (_reference.InvalidReference, _digest.InvalidDigest, ValueError) as exc:
        raise InvalidArgument(f"{field}: invalid image reference {value!r}: {exc}") from exc
    _check_port(str(ref["name"]), value, field)
    # The tag wins over a digest only for display; pulls by digest keep it.
    return ImageRef(repository=str(ref["name"]), tag=ref.get("tag"), digest=ref.get("digest"))


def _check_port(name: str, value: str, field: str) -> None:
    """distribution's grammar allows any digits as a registry port; dialing them does not."""
    domain = name.split("/", 1)[0]
    port = domain.rpartition("]")[2] if domain.startswith("[") else domain
    digits = port.rpartition(":")[2] if ":" in port else ""
    if digits and not 0 < int(digits) <= 0xFFFF:
        raise InvalidArgument(
            f"{field}: invalid image reference {value!r}: port {digits} out of range"
        )


def qualify(value: str) -> str:
    """A name as dockerd reports it, fully qualified; unparsable names pass unchanged."""
    try:
        return str(parse(value))
    except InvalidArgument:
        return value


def repository_of(value: str) -> str:
    """The repository part of a tag or digest reference (``docker.io/library/busybox``)."""
    try:
        return parse(value).repository
    except InvalidArgument:
        name = value.rsplit("@", 1)[0]
        # A ':' before the last '/' is a registry port, not a tag.
        if ":" in name.rsplit("/", 1)[-1]:
            name = name.rsplit(":", 1)[0]
        return name
