"""Docker container names of sandboxes and containers (shim.translate.naming)."""

from __future__ import annotations

import re

import pytest

from shim.translate import naming


@pytest.mark.parametrize(
    ("name", "namespace", "uid", "attempt", "expected"),
    [
        ("nginx", "default", "uid-1", 0, "k8s_POD_nginx_default_uid-1_0"),
        ("web.app", "kube-system", "6a3f0c2e", 3, "k8s_POD_web.app_kube-system_6a3f0c2e_3"),
        ("a", "b", "c", 4294967295, "k8s_POD_a_b_c_4294967295"),
    ],
)
def test_sandbox_name_format(name, namespace, uid, attempt, expected):
    assert naming.sandbox_name(name, namespace, uid, attempt) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("app", 0, "nginx", "default", "uid-1"), "k8s_app_nginx_default_uid-1_0"),
        (("side-car", 2, "web", "prod", "1234"), "k8s_side-car_web_prod_1234_2"),
    ],
)
def test_container_name_format(args, expected):
    # container_name(container, attempt, pod_name, namespace, pod_uid)
    assert naming.container_name(*args) == expected


def test_sandbox_and_container_names_differ_for_a_container_called_like_the_pod():
    sandbox = naming.sandbox_name("p", "ns", "u", 0)
    container = naming.container_name("p", 0, "p", "ns", "u")
    assert sandbox != container


@pytest.mark.parametrize(
    "value",
    ["a", "A", "0", "nginx", "web.app", "kube-system", "a_b", "6a3f0c2e-1b2c-4d5e", "x.-_y"],
)
def test_valid_components_are_accepted(value):
    assert naming.invalid_component(value) is None


def test_empty_component_is_rejected_with_reason():
    assert naming.invalid_component("") == "must not be empty"


@pytest.mark.parametrize(
    "value",
    ["-a", ".a", "_a", "a b", "a/b", "a:b", "a@b", "é", "a\n", "\ta", "a*", "a+b"],
)
def test_invalid_components_are_rejected_with_reason(value):
    reason = naming.invalid_component(value)
    assert reason is not None
    assert "letter or digit" in reason


def test_random_suffix_keeps_the_name_as_prefix():
    name = "k8s_POD_nginx_default_uid_0"
    suffixed = naming.with_random_suffix(name)
    assert suffixed.startswith(name + "_")
    assert re.fullmatch(r"[0-9a-f]{8}", suffixed.removeprefix(name + "_"))


def test_random_suffix_is_unique():
    names = {naming.with_random_suffix("k8s_app") for _ in range(200)}
    assert len(names) == 200


def test_suffixed_name_is_still_a_valid_docker_name():
    suffixed = naming.with_random_suffix(naming.sandbox_name("nginx", "default", "uid", 1))
    assert naming.invalid_component(suffixed) is None
