"""CRI list filters as Docker list filters (shim.dockerfilters)."""

from __future__ import annotations

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim import convert, dockerfilters, labels

FULL_ID = "0123456789abcdef" * 4
SANDBOX_TYPE = f"{labels.TYPE_KEY}={labels.TYPE_SANDBOX}"
CONTAINER_TYPE = f"{labels.TYPE_KEY}={labels.TYPE_CONTAINER}"
DOCKER_STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"]


# -- sandboxes -------------------------------------------------------------------


def test_empty_sandbox_filter_selects_all_sandboxes():
    assert dockerfilters.sandboxes(pb.PodSandboxFilter()) == {"label": [SANDBOX_TYPE]}


@pytest.mark.parametrize(
    ("object_id", "expected"),
    [("abc", ["^abc"]), ("0", ["^0"]), (FULL_ID, ["^" + FULL_ID])],
)
def test_sandbox_id_is_an_anchored_prefix(object_id, expected):
    filters = dockerfilters.sandboxes(pb.PodSandboxFilter(id=object_id))
    assert filters is not None
    assert filters["id"] == expected


@pytest.mark.parametrize("object_id", ["xyz", "ABC", "ab.c", "^abc", "a|b", "ab c", "abc$"])
def test_non_hex_sandbox_id_matches_nothing(object_id):
    assert dockerfilters.sandboxes(pb.PodSandboxFilter(id=object_id)) is None


def test_ready_sandboxes_are_running_containers():
    wanted = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY))
    filters = dockerfilters.sandboxes(wanted)
    assert filters is not None
    assert filters["status"] == ["running"]


def test_not_ready_sandboxes_are_all_other_statuses():
    wanted = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY))
    filters = dockerfilters.sandboxes(wanted)
    assert filters is not None
    assert sorted(filters["status"]) == sorted(s for s in DOCKER_STATUSES if s != "running")


@pytest.mark.parametrize("docker_status", DOCKER_STATUSES)
def test_sandbox_state_filter_agrees_with_the_listed_state(docker_status):
    listed = convert.pod_sandbox({"Id": FULL_ID, "State": docker_status}).state
    wanted = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=listed))
    filters = dockerfilters.sandboxes(wanted)
    assert filters is not None
    assert docker_status in filters["status"]


def test_unset_sandbox_state_adds_no_status_filter():
    filters = dockerfilters.sandboxes(pb.PodSandboxFilter(id="ab"))
    assert filters is not None
    assert "status" not in filters


def test_sandbox_label_selector_uses_escaped_keys():
    wanted = pb.PodSandboxFilter(label_selector={"app": "web", "annotation.x": "1"})
    assert dockerfilters.sandboxes(wanted) == {
        "label": [SANDBOX_TYPE, "label.annotation.x=1", "app=web"]
    }


def test_all_sandbox_filters_combine():
    wanted = pb.PodSandboxFilter(
        id="ab12",
        state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY),
        label_selector={"app": "web"},
    )
    assert dockerfilters.sandboxes(wanted) == {
        "label": [SANDBOX_TYPE, "app=web"],
        "id": ["^ab12"],
        "status": ["running"],
    }


# -- containers ------------------------------------------------------------------


def test_empty_container_filter_selects_all_containers():
    assert dockerfilters.containers(pb.ContainerFilter()) == {"label": [CONTAINER_TYPE]}


def test_container_id_is_an_anchored_prefix():
    assert dockerfilters.containers(pb.ContainerFilter(id="abc")) == {
        "label": [CONTAINER_TYPE],
        "id": ["^abc"],
    }


@pytest.mark.parametrize("object_id", ["nothex", "ABC", ".*", "abc-1"])
def test_non_hex_container_id_matches_nothing(object_id):
    assert dockerfilters.containers(pb.ContainerFilter(id=object_id)) is None


@pytest.mark.parametrize(
    ("state", "statuses"),
    [
        (pb.CONTAINER_CREATED, ["created"]),
        (pb.CONTAINER_RUNNING, ["running", "paused", "restarting"]),
        (pb.CONTAINER_EXITED, ["exited"]),
        (pb.CONTAINER_UNKNOWN, ["dead", "removing"]),
    ],
)
def test_container_states_map_to_docker_statuses(state, statuses):
    wanted = pb.ContainerFilter(state=pb.ContainerStateValue(state=state))
    filters = dockerfilters.containers(wanted)
    assert filters is not None
    assert filters["status"] == statuses


@pytest.mark.parametrize("docker_status", DOCKER_STATUSES)
def test_container_state_filter_agrees_with_the_listed_state(docker_status):
    wanted = pb.ContainerFilter(
        state=pb.ContainerStateValue(state=convert.list_state(docker_status))
    )
    filters = dockerfilters.containers(wanted)
    assert filters is not None
    assert docker_status in filters["status"]


def test_container_status_list_is_a_copy():
    wanted = pb.ContainerFilter(state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING))
    first = dockerfilters.containers(wanted)
    assert first is not None
    first["status"].append("bogus")
    second = dockerfilters.containers(wanted)
    assert second is not None
    assert "bogus" not in second["status"]


def test_full_pod_sandbox_id_becomes_a_label_filter():
    filters = dockerfilters.containers(pb.ContainerFilter(pod_sandbox_id=FULL_ID))
    assert filters == {"label": [CONTAINER_TYPE, f"{labels.SANDBOX_ID_KEY}={FULL_ID}"]}
    assert dockerfilters.sandbox_prefix(pb.ContainerFilter(pod_sandbox_id=FULL_ID)) == ""


@pytest.mark.parametrize("prefix", ["a", "0123", FULL_ID[:63]])
def test_short_pod_sandbox_id_is_a_prefix_matched_after_listing(prefix):
    wanted = pb.ContainerFilter(pod_sandbox_id=prefix)
    assert dockerfilters.containers(wanted) == {"label": [CONTAINER_TYPE]}
    assert dockerfilters.sandbox_prefix(wanted) == prefix


@pytest.mark.parametrize("sandbox_id", ["xyz", "ABCD", "ab-cd", FULL_ID + "0"])
def test_impossible_pod_sandbox_id_matches_nothing(sandbox_id):
    assert dockerfilters.containers(pb.ContainerFilter(pod_sandbox_id=sandbox_id)) is None


def test_no_pod_sandbox_id_means_no_prefix():
    assert dockerfilters.sandbox_prefix(pb.ContainerFilter()) == ""


def test_container_label_selector_uses_escaped_keys():
    wanted = pb.ContainerFilter(label_selector={labels.TYPE_KEY: "x"})
    assert dockerfilters.containers(wanted) == {
        "label": [CONTAINER_TYPE, f"label.{labels.TYPE_KEY}=x"]
    }


def test_all_container_filters_combine():
    wanted = pb.ContainerFilter(
        id="ff",
        pod_sandbox_id=FULL_ID,
        state=pb.ContainerStateValue(state=pb.CONTAINER_EXITED),
        label_selector={"app": "web"},
    )
    assert dockerfilters.containers(wanted) == {
        "label": [CONTAINER_TYPE, "app=web", f"{labels.SANDBOX_ID_KEY}={FULL_ID}"],
        "id": ["^ff"],
        "status": ["exited"],
    }


def test_bad_id_wins_over_other_container_filters():
    wanted = pb.ContainerFilter(id="zz", pod_sandbox_id=FULL_ID)
    assert dockerfilters.containers(wanted) is None
