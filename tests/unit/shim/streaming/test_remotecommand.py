"""Protocol pieces of exec/attach: negotiation, the status on the error stream, resizes."""

from __future__ import annotations

import json

import pytest

from shim.streaming import remotecommand as rc


def test_negotiation_takes_the_clients_first_supported_protocol():
    server = rc.SPDY_PROTOCOLS
    assert rc.negotiate(["v4.channel.k8s.io", "v3.channel.k8s.io"], server) == rc.PROTOCOL_V4
    assert rc.negotiate(["v9.channel.k8s.io", "v2.channel.k8s.io"], server) == rc.PROTOCOL_V2
    assert rc.negotiate(["v5.channel.k8s.io, channel.k8s.io"], server) == rc.PROTOCOL_V1
    assert rc.negotiate(["v9.channel.k8s.io"], server) is None


def test_v4_exit_status_is_what_client_go_decodes():
    payload = rc.encode_status(rc.exit_status(7, ["sh", "-c", "exit 7"]), v4=True)
    status = json.loads(payload)
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    assert status["metadata"] == {}
    assert "exit code 7" in status["message"]


def test_v4_success_is_a_status_too():
    assert rc.encode_status(rc.success(), v4=True) == b'{"metadata":{},"status":"Success"}'


def test_older_protocols_write_only_a_failures_message():
    assert rc.encode_status(rc.success(), v4=False) == b""
    failure = rc.exit_status(3, ["false"])
    assert rc.encode_status(failure, v4=False) == failure["message"].encode()


def test_sizes_arrive_as_concatenated_json_split_anywhere():
    decoder = rc.SizeDecoder()
    wire = b'{"Width":80,"Height":24}\n{"Width":120,"Height":40}\n'
    sizes = []
    for index in range(len(wire)):
        sizes += decoder.feed(wire[index : index + 1])
    assert sizes == [(80, 24), (120, 40)]


def test_nonsense_sizes_are_skipped():
    decoder = rc.SizeDecoder()
    sizes = decoder.feed(
        b'{"Width":0,"Height":24}{"Width":true,"Height":1}[1]{"Width":2,"Height":3}'
    )
    assert sizes == [(2, 3)]


def test_an_endless_size_message_is_refused():
    decoder = rc.SizeDecoder()
    with pytest.raises(ValueError, match="too long"):
        decoder.feed(b'{"Width":' + b"1" * 5000)
