"""Streaming sessions (Exec, Attach, PortForward) over SPDY/3.1 and WebSocket.

Modules, bottom to top: ``spdy`` (framing), ``session`` (a SPDY session),
``tokens`` (single-use URLs), ``netns`` (dialing inside a pod),
``remotecommand`` and ``portforward`` (the sessions' logic, transport-free),
``upgrade`` and ``websocket`` (transports), ``server`` (the HTTP server).
"""
