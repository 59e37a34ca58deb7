"""CRI labels and annotations in Docker labels (shim.translate.labels)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.translate import labels

INTERNAL = {
    labels.TYPE_KEY: labels.TYPE_CONTAINER,
    labels.SANDBOX_ID_KEY: "a" * 64,
    labels.LOG_PATH_KEY: "/var/log/pods/x/app/0.log",
    labels.RECORD_KEY: '{"created_at":1}',
}


@pytest.mark.parametrize(
    ("cri_key", "docker_key"),
    [
        ("app", "app"),
        ("app.kubernetes.io/name", "app.kubernetes.io/name"),
        ("", ""),
        ("annotation.x", "label.annotation.x"),
        ("annotation.", "label.annotation."),
        ("label.x", "label.label.x"),
        ("label.", "label.label."),
        ("label.label.x", "label.label.label.x"),
        (labels.TYPE_KEY, "label." + labels.TYPE_KEY),
        (labels.SANDBOX_ID_KEY, "label." + labels.SANDBOX_ID_KEY),
        (labels.LOG_PATH_KEY, "label." + labels.LOG_PATH_KEY),
        (labels.RECORD_KEY, "label." + labels.RECORD_KEY),
        (labels.INSTANCE_KEY, "label." + labels.INSTANCE_KEY),
        # Only an exact internal key is escaped, not one that merely starts like it.
        (labels.TYPE_KEY + "x", labels.TYPE_KEY + "x"),
        ("annotationx", "annotationx"),
        ("labelx", "labelx"),
    ],
)
def test_label_key_escapes_only_ambiguous_keys(cri_key, docker_key):
    assert labels.label_key(cri_key) == docker_key


def test_encode_layout():
    encoded = labels.encode({"app": "web"}, {"note": "hi"}, {labels.TYPE_KEY: labels.TYPE_SANDBOX})
    assert encoded == {
        "app": "web",
        "annotation.note": "hi",
        labels.TYPE_KEY: labels.TYPE_SANDBOX,
    }


def test_encode_internal_keys_are_not_overwritten_by_a_label_of_the_same_name():
    encoded = labels.encode({labels.TYPE_KEY: "evil"}, {}, {labels.TYPE_KEY: labels.TYPE_CONTAINER})
    assert encoded[labels.TYPE_KEY] == labels.TYPE_CONTAINER
    assert encoded["label." + labels.TYPE_KEY] == "evil"


@pytest.mark.parametrize(
    ("cri_labels", "cri_annotations"),
    [
        ({}, {}),
        ({"app": "web", "tier": ""}, {"kubernetes.io/config.seen": "2024"}),
        ({"annotation.x": "1", "label.y": "2"}, {"annotation.x": "3", "label.y": "4"}),
        ({labels.TYPE_KEY: "a", labels.RECORD_KEY: "{}"}, {labels.TYPE_KEY: "b"}),
        # The same key as a label and as an annotation keeps both values.
        ({"k": "label-value"}, {"k": "annotation-value"}),
        ({"": "empty key"}, {"": "empty annotation key"}),
        ({"label.": "x", "annotation.": "y"}, {"label.": "z"}),
    ],
)
def test_round_trip_is_exact(cri_labels, cri_annotations):
    encoded = labels.encode(cri_labels, cri_annotations, INTERNAL)
    assert labels.decode(encoded) == (cri_labels, cri_annotations)


def test_decode_hides_internal_keys():
    cri_labels, cri_annotations = labels.decode({**INTERNAL, "app": "web"})
    assert cri_labels == {"app": "web"}
    assert cri_annotations == {}


@pytest.mark.parametrize("docker_labels", [None, {}])
def test_decode_of_nothing_is_empty(docker_labels):
    assert labels.decode(docker_labels) == ({}, {})


def test_decode_keeps_foreign_labels_as_cri_labels():
    # A label the shim did not write (an image's own label) is shown as is.
    assert labels.decode({"maintainer": "me"}) == ({"maintainer": "me"}, {})


_keys = st.one_of(
    st.text(max_size=20),
    st.sampled_from(sorted(labels.INTERNAL_KEYS)),
    st.builds(lambda k: "annotation." + k, st.text(max_size=10)),
    st.builds(lambda k: "label." + k, st.text(max_size=10)),
    st.builds(lambda k: "label.annotation." + k, st.text(max_size=10)),
)
_maps = st.dictionaries(_keys, st.text(max_size=10), max_size=8)


@settings(max_examples=150, deadline=None)
@given(cri_labels=_maps, cri_annotations=_maps)
def test_round_trip_is_exact_for_any_keys(cri_labels, cri_annotations):
    encoded = labels.encode(cri_labels, cri_annotations, INTERNAL)
    # Nothing a client sends can replace an internal record.
    assert {k: encoded[k] for k in INTERNAL} == INTERNAL
    assert labels.decode(encoded) == (cri_labels, cri_annotations)


@settings(max_examples=100, deadline=None)
@given(cri_labels=_maps)
def test_every_label_gets_its_own_docker_key(cri_labels):
    docker_keys = [labels.label_key(k) for k in cri_labels]
    assert len(set(docker_keys)) == len(docker_keys)
    assert not set(docker_keys) & labels.INTERNAL_KEYS
    assert not any(k.startswith(labels.ANNOTATION_PREFIX) for k in docker_keys)


def test_selector_filters_use_escaped_keys_and_are_sorted():
    selector = {"tier": "db", "annotation.a": "1", labels.TYPE_KEY: "x", "app": ""}
    assert labels.selector_filters(selector) == [
        "label.annotation.a=1",
        "app=",
        "label." + labels.TYPE_KEY + "=x",
        "tier=db",
    ]


def test_selector_filters_of_empty_selector():
    assert labels.selector_filters({}) == []


def test_selector_filter_matches_the_encoded_label():
    cri_labels = {"label.app": "web"}
    encoded = labels.encode(cri_labels, {}, {})
    (selector,) = labels.selector_filters(cri_labels)
    key, _, value = selector.partition("=")
    assert encoded[key] == value


def test_encode_record_is_compact_and_sorted():
    assert labels.encode_record({"b": 1, "a": {"y": 2, "x": [1, 2]}}) == (
        '{"a":{"x":[1,2],"y":2},"b":1}'
    )


def test_record_round_trip():
    record = {"metadata": {"name": "nginx", "attempt": 1}, "created_at": 123, "ünï": "cödé"}
    docker_labels = {labels.RECORD_KEY: labels.encode_record(record)}
    assert labels.decode_record(docker_labels) == record


@pytest.mark.parametrize(
    "docker_labels",
    [
        None,
        {},
        {"app": "web"},
        {labels.RECORD_KEY: ""},
        {labels.RECORD_KEY: "not json"},
        {labels.RECORD_KEY: "{truncated"},
        {labels.RECORD_KEY: "[1, 2]"},
        {labels.RECORD_KEY: '"a string"'},
        {labels.RECORD_KEY: "42"},
        {labels.RECORD_KEY: "null"},
    ],
)
def test_decode_record_tolerates_missing_or_garbage(docker_labels):
    assert labels.decode_record(docker_labels) == {}


def test_decode_record_reads_only_the_record_key():
    assert labels.decode_record({"label." + labels.RECORD_KEY: json.dumps({"a": 1})}) == {}


def test_an_unscoped_shim_filters_nothing_and_owns_everything():
    assert labels.scope_filters("") == []
    assert labels.in_scope({labels.INSTANCE_KEY: "other"}, "")
    assert labels.in_scope(None, "")


def test_a_scoped_shim_owns_only_its_instance():
    assert labels.scope_filters("a") == [f"{labels.INSTANCE_KEY}=a"]
    assert labels.in_scope({labels.INSTANCE_KEY: "a"}, "a")
    assert not labels.in_scope({labels.INSTANCE_KEY: "b"}, "a")
    assert not labels.in_scope({}, "a")
    assert not labels.in_scope(None, "a")


def test_the_instance_label_is_not_a_cri_label():
    assert labels.decode({labels.INSTANCE_KEY: "a", "app": "x"}) == ({"app": "x"}, {})
