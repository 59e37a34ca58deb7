"""Which seccomp profile a security context asks for, and what dockerd takes (translate.seccomp)."""

from __future__ import annotations

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.errors import InvalidArgument
from shim.translate import seccomp
from shim.translate.seccomp import SeccompChoice

FIELD = "config.linux.security_context.seccomp"


@pytest.mark.parametrize(
    ("profile", "legacy", "expected"),
    [
        (None, "", ("unconfined", "")),
        (None, "unconfined", ("unconfined", "")),
        (None, "runtime/default", ("default", "")),
        (None, "docker/default", ("default", "")),
        (None, "localhost/profiles/p.json", ("localhost", "/profiles/p.json")),
        (pb.SecurityProfile(), "", ("default", "")),
        (pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault), "", ("default", "")),
        (pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined), "", ("unconfined", "")),
        (
            pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost, localhost_ref="/p.json"),
            "",
            ("localhost", "/p.json"),
        ),
        # The structured field wins over the deprecated path.
        (
            pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined),
            "runtime/default",
            ("unconfined", ""),
        ),
        (
            pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
            "localhost/x.json",
            ("default", ""),
        ),
        (
            pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost, localhost_ref="/a.json"),
            "unconfined",
            ("localhost", "/a.json"),
        ),
    ],
)
def test_seccomp_request(profile, legacy, expected):
    assert seccomp.seccomp_request(profile, legacy, FIELD) == expected


def test_seccomp_request_kubelet_legacy_localhost_path_is_absolute():
    # The kubelet writes "localhost/" followed by an absolute path.
    kind, path = seccomp.seccomp_request(None, "localhost//var/lib/kubelet/seccomp/p.json", FIELD)
    assert kind == "localhost"
    assert path.startswith("/")
    assert path.lstrip("/") == "var/lib/kubelet/seccomp/p.json"


@pytest.mark.parametrize("ref", ["", "p.json", "profiles/p.json", "localhost/p.json"])
def test_seccomp_localhost_profile_needs_an_absolute_ref(ref):
    profile = pb.SecurityProfile(profile_type=pb.SecurityProfile.Localhost, localhost_ref=ref)
    with pytest.raises(InvalidArgument) as info:
        seccomp.seccomp_request(profile, "", FIELD)
    assert info.value.message == f"{FIELD}.localhost_ref: must be an absolute path"


@pytest.mark.parametrize(
    ("kind", "profile_json", "expected"),
    [
        ("default", None, None),
        ("unconfined", None, "seccomp=unconfined"),
        (
            "localhost",
            '{"defaultAction":"SCMP_ACT_ERRNO"}',
            'seccomp={"defaultAction":"SCMP_ACT_ERRNO"}',
        ),
    ],
)
def test_seccomp_choice(kind, profile_json, expected):
    assert seccomp.seccomp_choice(kind, profile_json) == SeccompChoice(expected)
