"""The performance goals (issue 12), each checked against the suite's measured figures.

Called by ``python -m bench`` after every part ran; also usable on the JSON
files of an earlier run: ``.venv/bin/python bench/goals.py [RESULTS_DIR]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import RESULTS, table
from bench.steps import CRI_NAMES, LIFECYCLE

PEER = "cri-dockerd"
# cri-dockerd 0.3.7's Docker calls per crictl lifecycle iteration, as the issue measured them.
PEER_CALLS_FROM_ISSUE = 16


def _row(goal: str, measured: str, target: str, met: bool | None) -> dict[str, Any]:
    return {
        "goal": goal,
        "measured": measured,
        "target": target,
        "met": "n/a" if met is None else ("yes" if met else "NO"),
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    steps = results.get("steps") or {}
    if steps:
        lat = steps["latency_ms"]
        for step in LIFECYCLE:
            raw, shim = lat["raw"][step]["median"], lat["shim"][step]["median"]
            rows.append(
                _row(
                    f"{CRI_NAMES[step]}: added latency over the raw Docker floor",
                    f"{shim:.1f} ms vs {raw:.1f} ms (x{shim / raw:.2f})",
                    "<= x1.10",
                    shim / raw <= 1.10,
                )
            )
            if PEER in lat:
                peer = lat[PEER][step]["median"]
                rows.append(
                    _row(
                        f"{CRI_NAMES[step]}: at or below cri-dockerd",
                        f"{shim:.1f} ms vs {peer:.1f} ms (x{shim / peer:.2f})",
                        "<= x1.00",
                        shim <= peer,
                    )
                )
        calls = steps["docker_calls"]

        def per_iteration(name: str) -> int:
            version = len(calls[name]["version"])
            return sum(len(calls[name][s]) for s in LIFECYCLE) + len(LIFECYCLE) * version

        shim_calls = per_iteration("shim")
        peer_calls = per_iteration(PEER) if PEER in calls else PEER_CALLS_FROM_ISSUE
        rows.append(
            _row(
                "Docker calls per lifecycle iteration (7 steps + a Version each, as crictl)",
                f"{shim_calls} vs cri-dockerd {peer_calls}"
                + ("" if PEER in calls else " (issue's figure)"),
                f"<= {peer_calls}",
                shim_calls <= peer_calls,
            )
        )
        cpu = steps["cpu_ms_per_iteration"]
        if PEER in cpu:
            rows.append(
                _row(
                    "shim CPU per lifecycle iteration",
                    f"{cpu['shim']:.1f} ms vs cri-dockerd {cpu[PEER]:.1f} ms "
                    f"(x{cpu['shim'] / max(cpu[PEER], 1e-9):.2f})",
                    "<= cri-dockerd",
                    cpu["shim"] <= cpu[PEER],
                )
            )
        else:
            rows.append(
                _row(
                    "shim CPU per lifecycle iteration",
                    f"{cpu['shim']:.1f} ms (raw aiodocker client: {cpu['raw']:.1f} ms)",
                    "<= cri-dockerd",
                    None,
                )
            )
        idle = steps["rss_mib"]["shim"]["idle"]
        rows.append(_row("shim idle RSS", f"{idle:.1f} MiB", "<= 50 MiB", idle <= 50))
    scaling = (results.get("scaling") or {}).get("shim")
    if scaling:
        counts = sorted(int(c) for c in scaling if c.isdigit())
        rss = [scaling[str(c)]["rss_mib"] for c in counts]
        rows.append(
            _row(
                f"shim RSS flat from {counts[0]} to {counts[-1]} pods",
                f"{rss[0]:.1f} -> {rss[-1]:.1f} MiB (+{rss[-1] - rss[0]:.1f})",
                "flat (+<= 5 MiB)",
                rss[-1] - rss[0] <= 5,
            )
        )
        top = scaling[str(counts[-1])]
        listing = top["latency_ms"]["ListContainers"]["cri"]["median"]
        raw_listing = top["latency_ms"]["ListContainers"]["raw"]["median"]
        rows.append(
            _row(
                f"ListContainers with {counts[-1]} containers",
                f"{listing:.1f} ms (raw listing {raw_listing:.1f} ms)",
                "<= 20 ms",
                listing <= 20,
            )
        )
        rows.append(
            _row(
                f"idle CPU with {counts[-1]} running pods (a log copier each)",
                f"{top['idle_cpu_percent']:.2f} % of a core",
                "< 1 %",
                top["idle_cpu_percent"] < 1,
            )
        )
    concurrency = (results.get("concurrency") or {}).get("20")
    if concurrency:
        shim = concurrency["shim"]["wall_s"]
        raw = concurrency["raw"]["wall_s"]
        if PEER in concurrency:
            peer = concurrency[PEER]["wall_s"]
            rows.append(
                _row(
                    "20 pods in parallel, wall time",
                    f"{shim:.2f} s vs cri-dockerd {peer:.2f} s (x{shim / peer:.2f}; "
                    f"raw {raw:.2f} s)",
                    "<= cri-dockerd",
                    shim <= peer,
                )
            )
        else:
            rows.append(
                _row(
                    "20 pods in parallel, wall time",
                    f"{shim:.2f} s (raw floor {raw:.2f} s, x{shim / raw:.2f})",
                    "<= cri-dockerd",
                    None,
                )
            )
    kubeletlite = results.get("kubeletlite")
    if kubeletlite:
        one = kubeletlite["one_pod_ms"]
        rows.append(
            _row(
                "kubelet-lite: 1 pod, manifest -> running",
                f"{one['kubelet-lite']['median']:.0f} ms "
                f"vs crictl {one['crictl']['median']:.0f} ms",
                "(measured)",
                None,
            )
        )
        rows.append(
            _row(
                "kubelet-lite idle CPU with its pods running",
                f"{kubeletlite['idle_cpu_percent']['kubelet-lite']:.2f} % of a core",
                "(measured)",
                None,
            )
        )
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    return table(
        ["goal", "measured", "target", "met"],
        [[r["goal"], r["measured"], r["target"], r["met"]] for r in rows],
    )


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    results = {}
    for name in ("steps", "scaling", "concurrency", "kubeletlite"):
        path = directory / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    print(report(evaluate(results)))


if __name__ == "__main__":
    main()
