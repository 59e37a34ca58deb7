"""What the host set-up (scripts/setup-host) provides, as the tests see it."""

from __future__ import annotations

import os

REGISTRY = os.environ.get("REGISTRY_ADDR", "127.0.0.1:5000")
AUTH_REGISTRY = os.environ.get("AUTH_REGISTRY_ADDR", "127.0.0.1:5001")
AUTH_USER = os.environ.get("AUTH_REGISTRY_USER", "kubelite")
AUTH_PASSWORD = os.environ.get("AUTH_REGISTRY_PASSWORD", "hook-secret")
BUSYBOX = os.environ.get("BUSYBOX_IMAGE", f"{REGISTRY}/busybox:1.35")
PAUSE = os.environ.get("PAUSE_IMAGE", f"{REGISTRY}/pause:3.10")
PRIVATE_BUSYBOX = f"{AUTH_REGISTRY}/{BUSYBOX.split('/', 1)[1]}"
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
