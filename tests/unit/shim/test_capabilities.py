"""Privileged mode spelled out where dockerd's own flag cannot be used."""

from __future__ import annotations

from typing import Any

from shim.engine import capabilities

STATUS = "Name:\tx\nCapPrm:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n"


def test_bounding_set_is_read_from_status_text() -> None:
    assert capabilities.bounding_set(STATUS) == 0x1FFFEFFFFFF
    assert capabilities.bounding_set("Name:\tx\n") is None


def test_missing_and_held_capabilities() -> None:
    mask = capabilities.bounding_set(STATUS)
    assert mask is not None
    assert capabilities.missing_from(mask, 40) == ["SYS_RESOURCE"]
    held = capabilities.held(mask, 40)
    assert "SYS_RESOURCE" not in held
    assert "SYS_ADMIN" in held
    assert len(held) == 40
    assert capabilities.missing_from((1 << 41) - 1, 40) == []


def test_privileged_is_spelled_out() -> None:
    host: dict[str, Any] = {
        "Privileged": True,
        "CapDrop": ["NET_RAW"],
        "Devices": [{"PathOnHost": "/dev/a", "PathInContainer": "/dev/fuse"}],
        "SecurityOpt": ["seccomp={}", "no-new-privileges"],
        "MaskedPaths": ["/proc/kcore"],
        "Binds": [],
    }
    capabilities.rewrite(host, ["CHOWN", "SYS_ADMIN"], ["/dev/fuse", "/dev/loop0"])
    assert host["Privileged"] is False
    assert host["CapAdd"] == ["CHOWN", "SYS_ADMIN"]
    assert host["CapDrop"] == []
    assert [d["PathInContainer"] for d in host["Devices"]] == ["/dev/fuse", "/dev/loop0"]
    assert host["DeviceCgroupRules"] == ["a *:* rwm"]
    assert host["MaskedPaths"] == []
    assert host["ReadonlyPaths"] == []
    assert host["SecurityOpt"] == ["no-new-privileges", "seccomp=unconfined", "apparmor=unconfined"]
    assert host["Binds"] == ["/sys:/sys:rw"]


def test_a_client_mount_on_sys_is_kept() -> None:
    host: dict[str, Any] = {"Privileged": True, "Binds": ["/x:/sys/:ro"]}
    capabilities.rewrite(host, [], [])
    assert host["Binds"] == ["/x:/sys/:ro"]


def test_adding_all_becomes_the_held_names_minus_drops() -> None:
    host: dict[str, Any] = {"CapAdd": ["ALL", "cap_net_admin"], "CapDrop": ["CAP_CHOWN"]}
    assert capabilities.wants_every_capability(host)
    capabilities.rewrite(host, ["CHOWN", "KILL", "NET_ADMIN"], ["/dev/loop0"])
    assert host["CapAdd"] == ["KILL", "NET_ADMIN"]
    assert "Devices" not in host


def test_ordinary_containers_are_left_alone() -> None:
    assert not capabilities.wants_every_capability({"CapAdd": ["NET_ADMIN"]})
    assert capabilities.wants_every_capability({"Privileged": True})


def test_device_candidates_skip_pseudo_terminals_and_shm() -> None:
    assert capabilities.is_device_candidate("/dev/loop0")
    assert not capabilities.is_device_candidate("/dev/pts/0")
    assert not capabilities.is_device_candidate("/dev/console")
