"""The tree's layers: every import between packages points down, and the two programs
share only ``criapi`` and ``cricommon`` (see the README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Higher imports lower; the same rank never imports across packages. Modules directly
# in the package root are its foundations (rank 0).
LAYERS: dict[str, dict[str, int]] = {
    "shim": {
        "daemon": 7,
        "edge": 6,
        "streaming": 5,
        "cri": 4,
        "monitor": 3,
        "logs": 3,
        "translate": 2,
        "engine": 1,
    },
    "kubeletlite": {"cli": 5, "pods": 4, "state": 3, "runtime": 2, "manifest": 1},
}
ENTRY_POINTS = {"shim.__main__", "kubeletlite.__main__"}
SHARED = {"criapi", "cricommon"}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _layer(program: str, module: str) -> tuple[str, int]:
    """The layer a module of ``program`` belongs to, and its rank."""
    parts = module.split(".")
    if len(parts) < 2:
        return "", 0
    if parts[1] in LAYERS[program]:
        return parts[1], LAYERS[program][parts[1]]
    assert not (ROOT / program / parts[1]).is_dir(), f"{program}/{parts[1]}/ has no rank"
    return "", 0


def _modules(program: str) -> list[Path]:
    return sorted((ROOT / program).rglob("*.py"))


def _known(program: str, name: str) -> bool:
    relative = Path(*name.split("."))
    return (ROOT / relative).with_suffix(".py").exists() or (ROOT / relative).is_dir()


@pytest.mark.parametrize("program", sorted(LAYERS))
def test_every_import_points_down(program: str) -> None:
    upward = []
    for path in _modules(program):
        module = _module_name(path)
        if module in ENTRY_POINTS:
            continue
        own, rank = _layer(program, module)
        for target in _imports(path):
            if target.split(".")[0] != program or not _known(program, target):
                continue
            layer, target_rank = _layer(program, target)
            if layer == own or (not layer and not own):
                continue
            if target_rank >= rank:
                upward.append(f"{module} -> {target}")
    assert upward == []


@pytest.mark.parametrize("program", sorted(LAYERS))
def test_the_programs_share_only_the_common_packages(program: str) -> None:
    other = ({"shim", "kubeletlite"} - {program}).pop()
    crossing = [
        f"{_module_name(path)} -> {target}"
        for path in _modules(program)
        for target in _imports(path)
        if target.split(".")[0] == other
    ]
    assert crossing == []


def test_the_shared_packages_depend_on_neither_program() -> None:
    crossing = [
        f"{_module_name(path)} -> {target}"
        for package in sorted(SHARED - {"criapi"})
        for path in sorted((ROOT / package).rglob("*.py"))
        for target in _imports(path)
        if target.split(".")[0] in LAYERS
    ]
    assert crossing == []


def test_only_the_engine_adapter_imports_aiodocker() -> None:
    importers = [
        _module_name(path)
        for program in sorted(LAYERS)
        for path in _modules(program)
        if any(t.split(".")[0] == "aiodocker" for t in _imports(path))
    ]
    assert importers == ["shim.engine.docker"]
