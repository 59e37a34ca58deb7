"""Manifest files → pods paired with the documents stored alongside their sandboxes."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeletlite.manifest import ManifestError, podfiles


def pod_doc(name: str = "web", **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **metadata},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
    }


def as_yaml(*docs: dict[str, Any]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def test_multi_document_text_pairs_each_pod_with_its_document() -> None:
    web = pod_doc("web", labels={"app": "web"})
    db = pod_doc("db", namespace="data")
    text = "---\n# an empty document is skipped\n---\n" + as_yaml(web, db)
    loaded, warnings = podfiles.load_text(text, "pods.yaml")
    assert warnings == []
    assert [p.pod.name for p in loaded] == ["web", "db"]
    for item, doc in zip(loaded, [web, db], strict=True):
        stored = json.loads(item.manifest_json)
        assert stored["metadata"].pop("uid") == item.pod.uid
        assert stored == doc


def test_stored_json_pins_the_derived_uid() -> None:
    (item,), _ = podfiles.load_text(as_yaml(pod_doc()), "pods/web.yaml")
    stored = json.loads(item.manifest_json)
    assert stored["metadata"]["uid"] == item.pod.uid
    # The UID came from the text and its source: elsewhere the same text is another pod...
    (elsewhere,), _ = podfiles.load_text(as_yaml(pod_doc()), "other/web.yaml")
    assert elsewhere.pod.uid != item.pod.uid
    # ...but the stored document names its pod wherever it is loaded from.
    assert podfiles.from_stored(item.manifest_json, "other/web.yaml").pod.uid == item.pod.uid


def test_an_explicit_uid_is_kept() -> None:
    uid = "6b4f2a40-1d2c-4e5f-8a9b-0c1d2e3f4a5b"
    (item,), _ = podfiles.load_text(as_yaml(pod_doc(uid=uid)), "p.yaml")
    assert item.pod.uid == uid
    assert json.loads(item.manifest_json)["metadata"]["uid"] == uid


def test_stored_json_is_compact_and_sorted() -> None:
    (item,), _ = podfiles.load_text(as_yaml(pod_doc(labels={"b": "2", "a": "1"})), "p.yaml")
    assert ": " not in item.manifest_json
    assert item.manifest_json.index('"apiVersion"') < item.manifest_json.index('"kind"')
    assert '"labels":{"a":"1","b":"2"}' in item.manifest_json


def test_reloading_the_stored_json_gives_the_same_pod() -> None:
    doc = pod_doc(labels={"app": "web"}, annotations={"note": "x"})
    doc["spec"]["containers"][0].update(
        env=[{"name": "GREETING", "value": "hello"}],
        ports=[{"containerPort": 8080, "name": "http"}],
        lifecycle={
            "postStart": {"httpGet": {"path": "/ready", "port": "http"}},
            "preStop": {"sleep": {"seconds": 3}},
        },
        resources={"requests": {"cpu": "250m", "memory": "64Mi"}},
    )
    doc["spec"]["terminationGracePeriodSeconds"] = 10
    (item,), _ = podfiles.load_text(as_yaml(doc), "pods/web.yaml")
    again = podfiles.from_stored(item.manifest_json, "pods/web.yaml")
    assert again.pod == item.pod
    assert again.pod.spec_hash == item.pod.spec_hash
    assert again.manifest_json == item.manifest_json


def test_non_ascii_text_survives_the_stored_json() -> None:
    # A YAML reader turns JSON's surrogate-pair escapes into two lone surrogates.
    doc = pod_doc(annotations={"note": "launch 🚀 at 10:00", "line": "a\u2028b\x85c\x7fd"})
    doc["spec"]["containers"][0]["env"] = [{"name": "SNOWMAN", "value": "☃ and 𝄞"}]
    (item,), _ = podfiles.load_text(as_yaml(doc), "p.yaml")
    again = podfiles.from_stored(item.manifest_json, "p.yaml").pod
    assert again.annotations == {"note": "launch 🚀 at 10:00", "line": "a\u2028b\x85c\x7fd"}
    assert again.spec.containers[0].env == item.pod.spec.containers[0].env
    assert again.spec_hash == item.pod.spec_hash
    # Still JSON, for anything that reads the annotation without the loader.
    assert json.loads(item.manifest_json)["metadata"]["annotations"]["note"] == "launch 🚀 at 10:00"


@settings(max_examples=40, deadline=None)
@given(value=st.text(max_size=20))
def test_any_env_value_survives_the_stored_json(value: str) -> None:
    doc = pod_doc()
    doc["spec"]["containers"][0]["env"] = [{"name": "V", "value": value}]
    (item,), _ = podfiles.load_text(as_yaml(doc), "p.yaml")
    again = podfiles.from_stored(item.manifest_json, "p.yaml").pod
    assert again.spec.containers[0].env == item.pod.spec.containers[0].env


def test_yaml_only_scalars_in_ignored_fields_are_stored() -> None:
    # An unquoted timestamp is a datetime to YAML, which JSON cannot hold as is.
    text = as_yaml(pod_doc()).replace(
        "metadata:\n", "metadata:\n  creationTimestamp: 2024-03-01T12:00:00Z\n"
    )
    (item,), _ = podfiles.load_text(text, "p.yaml")
    stored = json.loads(item.manifest_json)
    assert stored["metadata"]["creationTimestamp"].startswith("2024-03-01")
    assert podfiles.from_stored(item.manifest_json, "p.yaml").pod == item.pod


def test_warnings_are_passed_on() -> None:
    doc = pod_doc()
    doc["spec"]["nodeName"] = "node-1"
    loaded, warnings = podfiles.load_text(as_yaml(doc), "p.yaml")
    assert len(loaded) == 1
    assert len(warnings) == 1
    assert warnings[0].startswith("p.yaml: spec.nodeName")


def test_invalid_documents_raise_manifest_error() -> None:
    bad = pod_doc()
    bad["spec"]["restartPolicy"] = "Sometimes"
    with pytest.raises(ManifestError, match="restartPolicy"):
        podfiles.load_text(as_yaml(pod_doc(), bad | {"metadata": {"name": "db"}}), "p.yaml")


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(as_yaml(pod_doc()))
    (item,), _ = podfiles.load_file(path)
    assert item.pod.source == str(path)
    assert item.pod.name == "web"


def test_json_manifest_file(tmp_path: Path) -> None:
    path = tmp_path / "web.json"
    path.write_text(json.dumps(pod_doc()))
    (item,), _ = podfiles.load_file(path)
    assert item.pod.name == "web"


def test_manifest_files_skips_hidden_and_non_manifest_files(tmp_path: Path) -> None:
    for name in [
        "b.yaml",
        "a.yml",
        "c.json",
        ".hidden.yaml",
        "notes.txt",
        "web.yaml.swp",
        "README",
    ]:
        (tmp_path / name).write_text("")
    (tmp_path / "sub.yaml").mkdir()
    (tmp_path / "sub.yaml" / "inner.yaml").write_text("")
    assert [p.name for p in podfiles.manifest_files(tmp_path)] == ["a.yml", "b.yaml", "c.json"]


def test_manifest_files_of_an_empty_directory(tmp_path: Path) -> None:
    assert podfiles.manifest_files(tmp_path) == []
