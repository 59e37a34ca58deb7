"""Image reference normalisation (shim.translate.imageref)."""

from __future__ import annotations

import pytest

from shim.errors import InvalidArgument
from shim.translate import imageref
from shim.translate.imageref import ImageRef

DIGEST = "sha256:" + "0123456789abcdef" * 4
HEX64 = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("value", "repository", "tag", "digest", "text"),
    [
        ("busybox", "docker.io/library/busybox", None, None, "docker.io/library/busybox:latest"),
        (
            "library/busybox",
            "docker.io/library/busybox",
            None,
            None,
            "docker.io/library/busybox:latest",
        ),
        (
            "docker.io/busybox",
            "docker.io/library/busybox",
            None,
            None,
            "docker.io/library/busybox:latest",
        ),
        (
            "index.docker.io/busybox:1.36",
            "docker.io/library/busybox",
            "1.36",
            None,
            "docker.io/library/busybox:1.36",
        ),
        (
            "docker.io/library/busybox:latest",
            "docker.io/library/busybox",
            "latest",
            None,
            "docker.io/library/busybox:latest",
        ),
        ("myorg/app:v1", "docker.io/myorg/app", "v1", None, "docker.io/myorg/app:v1"),
        (
            "127.0.0.1:5000/busybox:1.35",
            "127.0.0.1:5000/busybox",
            "1.35",
            None,
            "127.0.0.1:5000/busybox:1.35",
        ),
        ("localhost/x", "localhost/x", None, None, "localhost/x:latest"),
        ("localhost:5000/a/b:c", "localhost:5000/a/b", "c", None, "localhost:5000/a/b:c"),
        ("quay.io/org/img", "quay.io/org/img", None, None, "quay.io/org/img:latest"),
        (
            "registry.k8s.io/pause:3.10",
            "registry.k8s.io/pause",
            "3.10",
            None,
            "registry.k8s.io/pause:3.10",
        ),
        (
            "busybox@" + DIGEST,
            "docker.io/library/busybox",
            None,
            DIGEST,
            "docker.io/library/busybox@" + DIGEST,
        ),
        # A tag next to a digest is kept, but the digest is what the reference means.
        (
            "busybox:1.35@" + DIGEST,
            "docker.io/library/busybox",
            "1.35",
            DIGEST,
            "docker.io/library/busybox@" + DIGEST,
        ),
    ],
)
def test_parse_normalises(value, repository, tag, digest, text):
    ref = imageref.parse(value)
    assert ref == ImageRef(repository=repository, tag=tag, digest=digest)
    assert str(ref) == text


def test_registry_ports_in_range_are_kept():
    assert imageref.parse("127.0.0.1:65535/x").repository == "127.0.0.1:65535/x"
    assert imageref.parse("[::1]:5000/x:1").repository == "[::1]:5000/x"


def test_str_of_a_fully_qualified_ref_is_stable():
    once = str(imageref.parse("busybox:1.35"))
    assert str(imageref.parse(once)) == once


@pytest.mark.parametrize(
    "value",
    [
        "busybox:",
        ":tag",
        "a b",
        "-busybox",
        "busybox:-tag",
        "busybox:" + "t" * 129,
        "busybox@sha256:abc",
        "x" * 300,
        HEX64,
        "busybox@@" + DIGEST,
        "http://registry/busybox",
        "127.0.0.1:99999/x:1",  # dockerd fails to dial it with a bare 500
        "127.0.0.1:0/x",
        "[::1]:65536/x",
    ],
)
def test_invalid_refs_raise_invalid_argument_naming_the_field(value):
    with pytest.raises(InvalidArgument) as info:
        imageref.parse(value, "config.image.image")
    assert info.value.message.startswith("config.image.image: ")


@pytest.mark.parametrize(
    "value",
    [
        "busybox@sha256:" + "a" * 40,  # wrong length
        "busybox@sha256:" + "A" * 64,  # uppercase hex
        "busybox@sha1:" + "a" * 40,  # unsupported algorithm
    ],
)
def test_invalid_digests_raise_invalid_argument(value):
    with pytest.raises(InvalidArgument, match=r"^image\.image: invalid image reference"):
        imageref.parse(value)


def test_empty_ref_is_rejected_naming_the_field():
    with pytest.raises(InvalidArgument, match=r"^filter\.image\.image: must not be empty$"):
        imageref.parse("", "filter.image.image")


def test_default_field_name_is_image_image():
    with pytest.raises(InvalidArgument, match=r"^image\.image: "):
        imageref.parse("Bad")


@pytest.mark.parametrize("value", ["Busybox", "BUSYBOX:1.0", "library/Busybox", "quay.io/Org/x"])
def test_uppercase_repository_is_rejected(value):
    with pytest.raises(InvalidArgument, match="lowercase"):
        imageref.parse(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HEX64[:12], True),
        ("sha256:" + HEX64[:12], True),
        (HEX64[:30], True),
        (HEX64, True),
        ("sha256:" + HEX64, True),
        (HEX64[:11], False),
        (HEX64 + "0", False),
        ("abcdefabcdeg", False),
        ("ABCDEFABCDEF", False),
        ("busybox", False),
        ("sha256:", False),
        ("", False),
    ],
)
def test_looks_like_id_prefix(value, expected):
    assert imageref.looks_like_id_prefix(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("busybox:1.35", "docker.io/library/busybox:1.35"),
        ("busybox:latest", "docker.io/library/busybox:latest"),
        ("127.0.0.1:5000/busybox:1.35", "127.0.0.1:5000/busybox:1.35"),
        ("busybox@" + DIGEST, "docker.io/library/busybox@" + DIGEST),
        ("docker.io/library/busybox:1.35", "docker.io/library/busybox:1.35"),
    ],
)
def test_qualify(value, expected):
    assert imageref.qualify(value) == expected


@pytest.mark.parametrize(
    "value", ["<none>:<none>", "<none>@<none>", "", "Upper:1", "busybox@sha256:" + "a" * 40]
)
def test_qualify_passes_unparsable_names_through(value):
    assert imageref.qualify(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("busybox:1.35", "docker.io/library/busybox"),
        ("busybox", "docker.io/library/busybox"),
        ("127.0.0.1:5000/busybox:1.35", "127.0.0.1:5000/busybox"),
        ("busybox@" + DIGEST, "docker.io/library/busybox"),
        ("Upper:1.0", "Upper"),
        ("Upper@sha256:abc", "Upper"),
        ("localhost:5000/Upper:1", "localhost:5000/Upper"),
        ("localhost:5000/Upper", "localhost:5000/Upper"),
        ("localhost:5000/Upper@sha256:abc", "localhost:5000/Upper"),
    ],
)
def test_repository_of(value, expected):
    assert imageref.repository_of(value) == expected
