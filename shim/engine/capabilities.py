"""Pure translation of "privileged" where dockerd's own flag cannot be used.

dockerd gives a privileged container (or one adding ``ALL``) every
capability it knows of, whatever the host's bounding set allows; on a host
whose bounding set lacks one (here CAP_SYS_RESOURCE, common in nested and
hardened hosts) runc then fails with "unable to apply caps". As containerd
does, such a container gets instead every capability the runtime itself
holds; everything else privileged means is spelled out field by field:
all host devices, no masked or read-only paths, unconfined seccomp and
AppArmor, a writable /sys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

# Linux capability names by bit number (include/uapi/linux/capability.h).
CAPABILITY_NAMES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)

# Every device, as a privileged container's device cgroup allows.
ALL_DEVICES_RULE = "a *:* rwm"
_ALL = frozenset({"ALL", "CAP_ALL"})


@dataclass(frozen=True, slots=True)
class Replacement:
    """What a privileged (or add-ALL) container gets where dockerd's flag would fail."""

    capabilities: tuple[str, ...]  # held by the runtime and known to dockerd by name
    devices: tuple[str, ...]  # host device nodes; empty unless privileged


def bounding_set(status_text: str) -> int | None:
    """The CapBnd mask of a /proc/<pid>/status text; None when absent."""
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key == "CapBnd":
            try:
                return int(value.strip(), 16)
            except ValueError:
                return None
    return None


def missing_from(mask: int, last_cap: int) -> list[str]:
    """Names of the capabilities up to ``last_cap`` that ``mask`` lacks."""
    top = min(last_cap, len(CAPABILITY_NAMES) - 1)
    return [CAPABILITY_NAMES[bit] for bit in range(top + 1) if not mask >> bit & 1]


def held(mask: int, last_cap: int) -> list[str]:
    """Names of the capabilities up to ``last_cap`` that ``mask`` holds."""
    top = min(last_cap, len(CAPABILITY_NAMES) - 1)
    return [CAPABILITY_NAMES[bit] for bit in range(top + 1) if mask >> bit & 1]


def wants_every_capability(host_config: JSON) -> bool:
    return wants_every(bool(host_config.get("Privileged")), host_config.get("CapAdd") or ())


def wants_every(privileged: bool, cap_add: Sequence[object]) -> bool:
    """Whether a container asks for every capability: privileged, or adding ALL."""
    return privileged or any(str(c).upper() in _ALL for c in cap_add)


def rewrite(host_config: JSON, capabilities: Sequence[str], devices: Sequence[str]) -> None:
    """Make ``host_config`` privileged (or add-ALL) without dockerd's flag, in place.

    ``capabilities`` are what the runtime holds and dockerd knows by name;
    ``devices`` the host's device nodes (paths under /dev).
    """
    caps = list(capabilities)
    if not host_config.get("Privileged"):
        # Add-ALL then drop, as containerd applies them: a drop wins over ALL.
        drops = {_bare(c) for c in host_config.get("CapDrop") or ()}
        adds = {_bare(c) for c in host_config.get("CapAdd") or ()} - _ALL
        host_config["CapAdd"] = sorted((adds | set(caps)) - drops)
        return
    host_config["Privileged"] = False
    # dockerd ignores drops on a privileged container; so does this.
    host_config["CapAdd"] = caps
    host_config["CapDrop"] = []
    requested = list(host_config.get("Devices") or ())
    taken = {d.get("PathInContainer") for d in requested}
    host_config["Devices"] = requested + [
        {"PathOnHost": path, "PathInContainer": path, "CgroupPermissions": "rwm"}
        for path in devices
        if path not in taken
    ]
    host_config["DeviceCgroupRules"] = [ALL_DEVICES_RULE]
    host_config["MaskedPaths"] = []
    host_config["ReadonlyPaths"] = []
    kept = [
        opt
        for opt in host_config.get("SecurityOpt") or ()
        if not opt.startswith(("seccomp", "apparmor"))
    ]
    host_config["SecurityOpt"] = [*kept, "seccomp=unconfined", "apparmor=unconfined"]
    binds = list(host_config.get("Binds") or ())
    if not any(_bind_target(b) == "/sys" for b in binds):
        # dockerd mounts /sys read-only unless privileged; a bind replaces that mount.
        binds.append("/sys:/sys:rw")
    host_config["Binds"] = binds


def _bare(name: object) -> str:
    text = str(name).upper()
    return text.removeprefix("CAP_") if text != "CAP_ALL" else "ALL"


def _bind_target(bind: str) -> str:
    parts = bind.split(":")
    return parts[1].rstrip("/") or "/" if len(parts) > 1 else ""


_SKIPPED_DEVICE_DIRS = ("/dev/pts", "/dev/shm", "/dev/mqueue")


def is_device_candidate(path: str) -> bool:
    """Whether a path under /dev is one dockerd's privileged mode would pass through."""
    return path != "/dev/console" and not path.startswith(_SKIPPED_DEVICE_DIRS)
