"""Text for `get pods` and `describe pod`, in kubectl's shapes. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

from kubeletlite.state.podinfo import ContainerInfo, PodInfo
from kubeletlite.state.store import Event, Mark

_MARK_TEXT = {
    "created": "created (CreateContainer returned)",
    "started": "started (StartContainer returned; entrypoint running)",
    "postStart.begin": "postStart begins",
    "postStart.end": "postStart ends",
    "preStop.begin": "preStop begins",
    "preStop.end": "preStop ends",
    "stop.begin": "stop requested",
    "stop.end": "stopped",
    "exited": "exited",
}


def age(created_ns: int, now_ns: int) -> str:
    """kubectl's compact age: 45s, 3m20s, 2h5m, 4d."""
    seconds = max((now_ns - created_ns) // 1_000_000_000, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m{seconds % 60}s" if minutes < 10 else f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if hours < 10 else f"{hours}h"
    return f"{hours // 24}d"


def status_word(pod: PodInfo) -> str:
    """The STATUS column: a waiting or terminated reason where there is one, else the phase."""
    if pod.terminating:
        return "Terminating"
    for container in pod.containers:
        if container.state == "waiting" and container.reason:
            return container.reason
    if pod.phase == "Succeeded":
        return "Completed"
    if pod.phase == "Failed":
        reasons = [c.reason for c in pod.containers if c.state == "terminated" and c.reason]
        return reasons[0] if reasons else "Error"
    return pod.phase


def pods_table(
    pods: list[PodInfo],
    now_ns: int,
    all_namespaces: bool,
    *,
    wide: bool = False,
    show_labels: bool = False,
    node: str = "",
    header: bool = True,
) -> str:
    """`get pods`: kubectl's columns; IP and NODE with ``wide``, LABELS with ``show_labels``."""
    rows = [
        pod_row(p, now_ns, all_namespaces, wide=wide, show_labels=show_labels, node=node)
        for p in pods
    ]
    head = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if wide:
        head += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    if show_labels:
        head.append("LABELS")
    if all_namespaces:
        head.insert(0, "NAMESPACE")
    return _columns([head, *rows], skip_first=not header)


def pod_row(
    pod: PodInfo,
    now_ns: int,
    all_namespaces: bool,
    *,
    wide: bool = False,
    show_labels: bool = False,
    node: str = "",
) -> list[str]:
    ready = sum(1 for c in pod.containers if c.state == "running" and c.started)
    row = [
        pod.name,
        f"{ready}/{len(pod.containers)}",
        status_word(pod),
        _restarts(pod, now_ns),
        age(pod.created_ns, now_ns),
    ]
    if wide:
        row += [pod.ip or "<none>", node or "<none>", "<none>", "<none>"]
    if show_labels:
        labels = (pod.manifest.get("metadata") or {}).get("labels") or {}
        row.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
    if all_namespaces:
        row.insert(0, pod.namespace)
    return row


def _restarts(pod: PodInfo, now_ns: int) -> str:
    """The count, and as kubectl adds it, how long ago the last restart's container ended."""
    count = sum(c.restart_count for c in pod.containers)
    ended = [
        c.previous.finished_at for c in pod.containers if c.previous and c.previous.finished_at
    ]
    if count and ended:
        return f"{count} ({age(max(ended), now_ns)} ago)"
    return str(count)


def events_table(
    rows: list[tuple[str, str, Event]], now_ns: int, all_namespaces: bool, header: bool = True
) -> str:
    """`get events`: (namespace, pod name, event) rows, oldest first."""
    head = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if all_namespaces:
        head.insert(0, "NAMESPACE")
    table = [head]
    for namespace, pod, event in rows:
        row = [age(event.time_ns, now_ns), event.type, event.reason, f"pod/{pod}", event.message]
        if all_namespaces:
            row.insert(0, namespace)
        table.append(row)
    return _columns(table, skip_first=not header)


def describe(pod: PodInfo, now_ns: int) -> str:
    lines = [
        f"Name:         {pod.name}",
        f"Namespace:    {pod.namespace}",
        f"UID:          {pod.uid}",
        f"Source:       {pod.source or '-'}",
        f"Start Time:   {timestamp(pod.created_ns)}",
        f"Status:       {'Terminating' if pod.terminating else pod.phase}",
        f"IP:           {pod.ip or '-'}",
        f"Supervised:   {'yes' if pod.supervised else 'no'}",
    ]
    if pod.deleted_ns:
        lines.append(f"Deleted:      {timestamp(pod.deleted_ns)}")
    lines.append("Containers:")
    for container in pod.containers:
        lines.extend(_describe_container(container))
    lines.append("Timeline:")
    lines.extend(timeline(pod.marks) or ["  <none>"])
    lines.append("Events:")
    lines.extend(_events(pod, now_ns))
    return "\n".join(lines)


def _describe_container(container: ContainerInfo) -> list[str]:
    lines = [
        f"  {container.name}:",
        f"    Container ID:   {_container_ref(container.container_id)}",
        f"    Image:          {container.image or '-'}",
        f"    Image ID:       {container.image_ref or '-'}",
    ]
    lines.extend(_state_lines("State", container))
    if container.previous is not None:
        lines.extend(_state_lines("Last State", container.previous))
    lines.append(f"    Started:        {str(container.started).lower()}")
    lines.append(f"    Restart Count:  {container.restart_count}")
    if container.hook_error:
        lines.append(f"    Hook Error:     PostStartHookError: {container.hook_error}")
    if container.termination_message:
        lines.append(f"    Message:        {container.termination_message.strip()}")
    return lines


def _state_lines(label: str, container: ContainerInfo) -> list[str]:
    pad = " " * (16 - len(label) - 1)
    match container.state:
        case "running":
            return [
                f"    {label}:{pad}Running",
                f"      Started:      {timestamp(container.started_at)}",
            ]
        case "terminated":
            return [
                f"    {label}:{pad}Terminated",
                f"      Reason:       {container.reason or '-'}",
                f"      Exit Code:    {container.exit_code}",
                f"      Started:      {timestamp(container.started_at)}",
                f"      Finished:     {timestamp(container.finished_at)}",
            ]
        case _:
            lines = [f"    {label}:{pad}Waiting", f"      Reason:       {container.reason or '-'}"]
            if container.message:
                lines.append(f"      Message:      {container.message}")
            return lines


def timeline(marks: list[Mark]) -> list[str]:
    """Each container's life, relative to its StartContainer returning, in milliseconds."""
    lines: list[str] = []
    by_container: dict[tuple[str, str], list[Mark]] = {}
    for mark in marks:
        by_container.setdefault((mark.container, mark.container_id), []).append(mark)
    for (name, container_id), own in by_container.items():
        started = next((m.time_ns for m in own if m.what == "started"), own[0].time_ns)
        lines.append(f"  {name} ({container_id[:12] or '-'}):")
        for mark in sorted(own, key=lambda m: m.time_ns):
            offset = (mark.time_ns - started) / 1e6
            text = _MARK_TEXT.get(mark.what, mark.what)
            outcome = "" if mark.ok is None else (" ok" if mark.ok else " FAILED")
            note = f": {mark.note}" if mark.note else ""
            when = timestamp(mark.time_ns, precise=True)
            lines.append(f"    {when}  {offset:+10.1f} ms  {text}{outcome}{note}")
    return lines


def _events(pod: PodInfo, now_ns: int) -> list[str]:
    if not pod.events:
        return ["  <none>"]
    rows = [["  TYPE", "REASON", "AGE", "FROM", "MESSAGE"]]
    for event in pod.events:
        subject = f"spec.containers{{{event.container}}}" if event.container else "pod"
        rows.append(
            [f"  {event.type}", event.reason, age(event.time_ns, now_ns), subject, event.message]
        )
    return _columns(rows).splitlines()


def _container_ref(container_id: str) -> str:
    return f"docker://{container_id}" if container_id else "-"


def timestamp(ns: int, precise: bool = False) -> str:
    if not ns:
        return "-"
    moment = datetime.fromtimestamp(ns / 1e9, UTC)
    if precise:
        return moment.strftime("%H:%M:%S.%f")[:-3]
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _columns(rows: list[list[str]], skip_first: bool = False) -> str:
    """Aligned columns; ``skip_first`` drops the header line but keeps its widths."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines[1:] if skip_first else lines)
