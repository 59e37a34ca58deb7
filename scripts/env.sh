# Shared settings for the host scripts. Sourced, never executed.
# Everything here can be overridden from the environment.

: "${DEV_STATE_DIR:=/var/lib/cri-shim-dev}"
: "${DEV_LOG_DIR:=/var/log/cri-shim-dev}"

# Local registries, loopback only: one open, one behind htpasswd.
: "${REGISTRY_ADDR:=127.0.0.1:5000}"
: "${AUTH_REGISTRY_ADDR:=127.0.0.1:5001}"
: "${AUTH_REGISTRY_USER:=kubelite}"
: "${AUTH_REGISTRY_PASSWORD:=hook-secret}"

# Images the setup builds offline and pushes to the registries.
: "${BUSYBOX_IMAGE:=${REGISTRY_ADDR}/busybox:1.35}"
: "${PAUSE_IMAGE:=${REGISTRY_ADDR}/pause:3.10}"
# The shim's default infra image: tagged locally so no pull is ever needed.
: "${DEFAULT_PAUSE_TAG:=registry.k8s.io/pause:3.10}"

: "${VENV_DIR:=.venv}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
