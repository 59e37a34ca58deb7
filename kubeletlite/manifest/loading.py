"""YAML parsing (strict, bounded) and :func:`load_pods`, the loader."""

from __future__ import annotations

import dataclasses
from typing import Any, Final, NoReturn

import yaml
from yaml.composer import ComposerError

from kubeletlite.manifest.errors import ErrorType, FieldError, ManifestError, go_quote
from kubeletlite.manifest.model import LoadResult, Pod
from kubeletlite.manifest.pod import _read_pod
from kubeletlite.manifest.reader import _Sink

# ---------------------------------------------------------------------------
# YAML, and the loader.
# ---------------------------------------------------------------------------

# Far beyond any real Pod manifest; they bound the work one document can cause.
_MAX_NODES: Final = 100_000
_MAX_DEPTH: Final = 100
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class _ManifestLoader(yaml.SafeLoader):
    """A SafeLoader that also rejects duplicate keys (as strict decoding does), aliases
    that make a document contain itself, and alias "bombs" that expand past any real
    manifest's size."""

    _depth: int = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # Composing recurses per level: stop early rather than at the recursion limit.
        if self._depth >= _MAX_DEPTH:
            mark = self.get_mark()  # where the scanner is: at or just past the culprit
            raise ComposerError(
                None, None, f"document is nested more than {_MAX_DEPTH} levels deep", mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _NodeCheck().size(node, 1)
        return node


class _NodeCheck:
    """Walks a composed document once, counting each node as often as aliases repeat it."""

    def __init__(self) -> None:
        self.sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
        self.active: set[int] = set()

    def size(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        known = self.sizes.get(id(node))
        if known is None:
            known = self._measure(node, depth)
        if depth + known[1] > _MAX_DEPTH:
            self._fail(node, f"document is nested more than {_MAX_DEPTH} levels deep")
        return known

    def _measure(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        if id(node) in self.active:
            self._fail(node, "found an alias that makes the document contain itself")
        self.active.add(id(node))
        if isinstance(node, yaml.MappingNode):
            self._check_unique_keys(node)
        total, height = 1, 0
        for child in _children(node):
            child_size, child_height = self.size(child, depth + 1)
            total, height = total + child_size, max(height, child_height + 1)
            if total > _MAX_NODES:
                self._fail(node, f"document expands to more than {_MAX_NODES} values")
        self.active.discard(id(node))
        self.sizes[id(node)] = (total, height)
        return total, height

    @staticmethod
    def _check_unique_keys(node: yaml.MappingNode) -> None:
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                if (key.tag, key.value) in seen:
                    _NodeCheck._fail(key, f"found duplicate key {go_quote(str(key.value))}")
                seen.add((key.tag, key.value))

    @staticmethod
    def _fail(node: yaml.Node, problem: str) -> NoReturn:
        raise ComposerError(None, None, problem, node.start_mark)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _parse_documents(text: str, source: str) -> list[Any]:
    """Every document of ``text`` (None for an empty one); ManifestError if it is not YAML."""
    try:
        return list(yaml.load_all(text, Loader=_ManifestLoader))
    except yaml.MarkedYAMLError as error:
        raise ManifestError([_yaml_error(error)], source) from None
    # PyYAML lets some bad scalars escape as plain Python errors (a date such as
    # 2024-13-45, an integer of 5000 digits). RecursionError is belt and braces: the
    # loader stops deep nesting long before the recursion limit.
    except (yaml.YAMLError, ValueError, OverflowError, TypeError, RecursionError) as error:
        problem = " ".join(str(error).split()) or type(error).__name__
        raise ManifestError([FieldError("", ErrorType.YAML, problem)], source) from None


def _yaml_error(error: yaml.MarkedYAMLError) -> FieldError:
    mark = error.problem_mark or error.context_mark
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
    problem = error.problem or error.context or "cannot parse"
    if error.context and error.problem:
        problem = f"{problem} ({error.context})"
    return FieldError(where, ErrorType.YAML, problem)


def _claim_name(pod: Pod, index: int, defined_in: dict[tuple[str, str], int], sink: _Sink) -> bool:
    """Whether ``pod`` is the first of its namespace and name; a duplicate is an error."""
    first = defined_in.setdefault((pod.namespace, pod.name), index)
    if first != index:
        detail = f"pod {pod.namespace}/{pod.name} is already defined in document {first}"
        sink.errors.append(FieldError("metadata.name", ErrorType.DUPLICATE, detail, pod.name))
    return first == index


def load_pods(text: str, source: str = "<stdin>") -> LoadResult:
    """Parse and validate every Pod in a (multi-document) YAML text.

    ``source`` names the text in messages and feeds derived UIDs, so the same manifest
    from the same place always yields the same pod. Empty documents are skipped.
    Raises :class:`ManifestError` with every error of every document; warnings about
    ignored fields come back in the result, prefixed like errors. When the text holds
    several documents, prefixes carry the document's index in the stream (from 0,
    empty documents counted, so it matches the file).
    """
    documents = [(i, d) for i, d in enumerate(_parse_documents(text, source)) if d is not None]
    several = len(documents) > 1
    pods: list[Pod] = []
    errors: list[FieldError] = []
    warnings: list[str] = []
    defined_in: dict[tuple[str, str], int] = {}
    for index, document in documents:
        sink = _Sink()
        pod = _read_pod(document, sink, source)
        if pod is not None and _claim_name(pod, index, defined_in, sink):
            pods.append(pod)
        label = f"{source}[{index}]" if several else source
        warnings.extend(f"{label}: {warning}" for warning in sink.warnings)
        document_index = index if several else None
        errors.extend(dataclasses.replace(e, document=document_index) for e in sink.errors)
    if errors:
        raise ManifestError(errors, source)
    return LoadResult(tuple(pods), tuple(warnings))
