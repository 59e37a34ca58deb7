"""CRI list filters as Docker list queries (shim.translate.dockerfilters)."""

from __future__ import annotations

import pytest

from criapi.runtime.v1 import api_pb2 as pb
from shim.errors import InvalidArgument
from shim.translate import convert, dockerfilters, labels

FULL_ID = "0123456789abcdef" * 4
SANDBOX_TYPE = f"{labels.TYPE_KEY}={labels.TYPE_SANDBOX}"
CONTAINER_TYPE = f"{labels.TYPE_KEY}={labels.TYPE_CONTAINER}"
DOCKER_STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"]


def _filters(query: dockerfilters.ListQuery | None) -> dict[str, list[str]]:
    assert query is not None
    return query.filters


def _entry(object_id: str, sandbox_id: str = "") -> dict[str, object]:
    return {"Id": object_id, "Labels": {labels.SANDBOX_ID_KEY: sandbox_id} if sandbox_id else {}}


# -- sandboxes -------------------------------------------------------------------


def test_empty_sandbox_filter_selects_all_sandboxes():
    query = dockerfilters.sandboxes(pb.PodSandboxFilter())
    assert _filters(query) == {"label": [SANDBOX_TYPE]}
    assert query is not None
    assert query.keep(_entry(FULL_ID))


@pytest.mark.parametrize("object_id", ["abc", "0", FULL_ID])
def test_sandbox_id_is_a_prefix_matched_after_listing(object_id):
    """dockerd 20.10 resolves an id filter as one lookup; ambiguous prefixes would match nothing."""
    query = dockerfilters.sandboxes(pb.PodSandboxFilter(id=object_id))
    assert query is not None
    assert "id" not in query.filters
    assert query.keep(_entry(object_id + "0" * (64 - len(object_id))))
    assert not query.keep(_entry("f" * 64))


@pytest.mark.parametrize("object_id", ["xyz", "ABC", "ab.c", "^abc", "a|b", "ab c", "abc$"])
def test_non_hex_sandbox_id_matches_nothing(object_id):
    assert dockerfilters.sandboxes(pb.PodSandboxFilter(id=object_id)) is None


def test_ready_sandboxes_are_running_containers():
    wanted = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY))
    filters = _filters(dockerfilters.sandboxes(wanted))
    assert filters["status"] == ["running"]


def test_not_ready_sandboxes_are_all_other_statuses():
    wanted = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY))
    filters = _filters(dockerfilters.sandboxes(wanted))
    assert sorted(filters["status"]) == sorted(s for s in DOCKER_STATUSES if s != "running")


@pytest.mark.parametrize("docker_status", DOCKER_STATUSES)
def test_sandbox_state_filter_agrees_with_the_listed_state(docker_status):
    listed = convert.pod_sandbox({"Id": FULL_ID, "State": docker_status}).state
    wanted = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=listed))
    filters = _filters(dockerfilters.sandboxes(wanted))
    assert docker_status in filters["status"]


def test_unset_sandbox_state_adds_no_status_filter():
    assert "status" not in _filters(dockerfilters.sandboxes(pb.PodSandboxFilter(id="ab")))


def test_sandbox_label_selector_uses_escaped_keys():
    wanted = pb.PodSandboxFilter(label_selector={"app": "web", "annotation.x": "1"})
    assert _filters(dockerfilters.sandboxes(wanted)) == {
        "label": [SANDBOX_TYPE, "label.annotation.x=1", "app=web"]
    }


@pytest.mark.parametrize("pick", [dockerfilters.sandboxes, dockerfilters.containers])
def test_a_selector_key_with_an_equals_sign_is_matched_after_listing(pick):
    # dockerd would read label=a=b=c as key "a", value "b=c": another object's label.
    kind = pb.PodSandboxFilter if pick is dockerfilters.sandboxes else pb.ContainerFilter
    query = pick(kind(label_selector={"a=b": "c", "app": "web"}))
    assert query is not None
    assert all(not f.startswith("a=") for f in query.filters["label"])
    assert "app=web" in query.filters["label"]
    assert query.keep({"Id": "ab", "Labels": {"a=b": "c", "app": "web"}})
    assert not query.keep({"Id": "ab", "Labels": {"a": "b=c", "app": "web"}})


def test_all_sandbox_filters_combine():
    wanted = pb.PodSandboxFilter(
        id="ab12",
        state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY),
        label_selector={"app": "web"},
    )
    query = dockerfilters.sandboxes(wanted)
    assert _filters(query) == {"label": [SANDBOX_TYPE, "app=web"], "status": ["running"]}
    assert query is not None
    assert query.id_prefix == "ab12"


# -- containers ------------------------------------------------------------------


def test_empty_container_filter_selects_all_containers():
    assert _filters(dockerfilters.containers(pb.ContainerFilter())) == {"label": [CONTAINER_TYPE]}


def test_container_id_is_a_prefix_matched_after_listing():
    query = dockerfilters.containers(pb.ContainerFilter(id="abc"))
    assert _filters(query) == {"label": [CONTAINER_TYPE]}
    assert query is not None
    assert query.keep(_entry("abc" + "0" * 61))
    assert not query.keep(_entry("abd" + "0" * 61))


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
    assert _filters(dockerfilters.containers(wanted))["status"] == statuses


@pytest.mark.parametrize("docker_status", DOCKER_STATUSES)
def test_container_state_filter_agrees_with_the_listed_state(docker_status):
    wanted = pb.ContainerFilter(
        state=pb.ContainerStateValue(state=convert.list_state(docker_status))
    )
    assert docker_status in _filters(dockerfilters.containers(wanted))["status"]


def test_container_status_list_is_a_copy():
    wanted = pb.ContainerFilter(state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING))
    _filters(dockerfilters.containers(wanted))["status"].append("bogus")
    assert "bogus" not in _filters(dockerfilters.containers(wanted))["status"]


def test_full_pod_sandbox_id_becomes_a_label_filter():
    query = dockerfilters.containers(pb.ContainerFilter(pod_sandbox_id=FULL_ID))
    assert _filters(query) == {"label": [CONTAINER_TYPE, f"{labels.SANDBOX_ID_KEY}={FULL_ID}"]}
    assert query is not None
    assert query.sandbox_prefix == ""


@pytest.mark.parametrize("prefix", ["a", "0123", FULL_ID[:63]])
def test_short_pod_sandbox_id_is_a_prefix_matched_after_listing(prefix):
    query = dockerfilters.containers(pb.ContainerFilter(pod_sandbox_id=prefix))
    assert _filters(query) == {"label": [CONTAINER_TYPE]}
    assert query is not None
    assert query.keep(_entry("f" * 64, sandbox_id=prefix + "0" * (64 - len(prefix))))
    assert not query.keep(_entry("f" * 64, sandbox_id="e" * 64))


@pytest.mark.parametrize("sandbox_id", ["xyz", "ABCD", "ab-cd", FULL_ID + "0"])
def test_impossible_pod_sandbox_id_matches_nothing(sandbox_id):
    assert dockerfilters.containers(pb.ContainerFilter(pod_sandbox_id=sandbox_id)) is None


def test_no_pod_sandbox_id_keeps_containers_of_any_sandbox():
    query = dockerfilters.containers(pb.ContainerFilter())
    assert query is not None
    assert query.keep(_entry("f" * 64, sandbox_id="e" * 64))


def test_container_label_selector_uses_escaped_keys():
    wanted = pb.ContainerFilter(label_selector={labels.TYPE_KEY: "x"})
    assert _filters(dockerfilters.containers(wanted)) == {
        "label": [CONTAINER_TYPE, f"label.{labels.TYPE_KEY}=x"]
    }


def test_all_container_filters_combine():
    wanted = pb.ContainerFilter(
        id="ff",
        pod_sandbox_id=FULL_ID,
        state=pb.ContainerStateValue(state=pb.CONTAINER_EXITED),
        label_selector={"app": "web"},
    )
    query = dockerfilters.containers(wanted)
    assert _filters(query) == {
        "label": [CONTAINER_TYPE, "app=web", f"{labels.SANDBOX_ID_KEY}={FULL_ID}"],
        "status": ["exited"],
    }
    assert query is not None
    assert query.id_prefix == "ff"


def test_bad_id_wins_over_other_container_filters():
    wanted = pb.ContainerFilter(id="zz", pod_sandbox_id=FULL_ID)
    assert dockerfilters.containers(wanted) is None


def test_unknown_container_state_is_an_invalid_argument():
    wanted = pb.ContainerFilter(state=pb.ContainerStateValue(state=42))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"^filter\.state\.state: "):
        dockerfilters.containers(wanted)


def test_unknown_sandbox_state_is_an_invalid_argument():
    wanted = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=7))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"^filter\.state\.state: "):
        dockerfilters.sandboxes(wanted)
