"""`delete` waits on the record's own reading of "deleted", not on a search of the file's text."""

from pathlib import Path

from kubeletlite.state.records import PodMeta
from kubeletlite.state.store import StateStore


def test_a_record_is_deleted_once_marked(tmp_path: Path) -> None:
    record = StateStore(tmp_path).pod("shop", "web", "u-1")
    assert not record.is_deleted()  # no record yet
    record.init(PodMeta(namespace="shop", name="web", uid="u-1", source="web.yaml"))
    assert not record.is_deleted()
    record.mark_deleted()
    assert record.is_deleted()


def test_a_torn_record_or_a_name_in_a_value_is_not_deleted(tmp_path: Path) -> None:
    record = StateStore(tmp_path).pod("shop", "web", "u-1")
    record.init(PodMeta(namespace="shop", name="web", uid="u-1", source='"deleted_ns"'))
    assert not record.is_deleted()  # the raw-text search took this for a deletion
    (record.directory / "pod.json").write_text('{"deleted_ns": 1')
    assert not record.is_deleted()
