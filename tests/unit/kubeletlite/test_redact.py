"""Masking env values and hook header values out of recorded text."""

from kubeletlite import manifest as m
from kubeletlite.pods.redact import MASK, Redactor, for_container


def make_container(
    env: dict[str, str], post_start: m.Handler | None = None, pre_stop: m.Handler | None = None
) -> m.Container:
    return m.Container(
        name="app",
        image="busybox:1.36",
        image_pull_policy="IfNotPresent",
        env=tuple(m.EnvVar(k, v) for k, v in env.items()),
        lifecycle=m.Lifecycle(post_start=post_start, pre_stop=pre_stop),
    )


def test_env_values_are_masked_in_text() -> None:
    redactor = for_container(make_container({"DB_PASSWORD": "hunter22", "USER": "alice"}))
    assert redactor.text("login alice:hunter22 failed") == f"login {MASK}:{MASK} failed"


def test_names_are_not_secrets() -> None:
    redactor = for_container(make_container({"DB_PASSWORD": "hunter22"}))
    assert redactor.text("DB_PASSWORD is set") == "DB_PASSWORD is set"


def test_short_values_are_left_alone() -> None:
    redactor = for_container(make_container({"DEBUG": "on", "LEVEL": "1", "MODE": "abc"}))
    assert redactor.text("mode abc, debug on, level 1") == "mode abc, debug on, level 1"
    # Four characters is long enough.
    assert Redactor(["abcd"]).text("xabcdx") == f"x{MASK}x"


def test_http_header_values_of_both_hooks_are_masked() -> None:
    post_start = m.HTTPGetAction(port=80, headers=(m.HTTPHeader("Authorization", "Bearer t0k3n"),))
    pre_stop = m.HTTPGetAction(port=80, headers=(m.HTTPHeader("X-Api-Key", "k-9999"),))
    redactor = for_container(make_container({}, post_start, pre_stop))
    assert redactor.text("sent Bearer t0k3n and k-9999") == f"sent {MASK} and {MASK}"
    assert redactor.text("Authorization X-Api-Key") == "Authorization X-Api-Key"


def test_exec_and_sleep_hooks_add_no_secrets() -> None:
    redactor = for_container(
        make_container({}, m.ExecAction(("cat", "/etc/secret")), m.SleepAction(5))
    )
    assert redactor.text("cat /etc/secret") == "cat /etc/secret"


def test_longest_secret_is_masked_first() -> None:
    # Masking "pass" first would leave "word-pass"-shaped debris of the longer one.
    redactor = Redactor(["pass", "pass-word-long"])
    assert redactor.text("x pass-word-long y pass z") == f"x {MASK} y {MASK} z"
    redactor = Redactor(["pass-word-long", "pass"])
    assert redactor.text("x pass-word-long y pass z") == f"x {MASK} y {MASK} z"


def test_every_occurrence_is_masked() -> None:
    assert Redactor(["s3cret"]).text("s3cret s3cret!s3cret") == f"{MASK} {MASK}!{MASK}"


def test_values_nested_in_dicts_and_lists() -> None:
    redactor = Redactor(["hunter22"])
    value = {
        "output": "pw=hunter22",
        "exitCode": 1,
        "ok": False,
        "none": None,
        "steps": [{"cmd": "echo hunter22"}, "hunter22", 3.5, ("a", "hunter22")],
    }
    assert redactor.value(value) == {
        "output": f"pw={MASK}",
        "exitCode": 1,
        "ok": False,
        "none": None,
        "steps": [{"cmd": f"echo {MASK}"}, MASK, 3.5, ["a", MASK]],
    }
    # The input is left untouched.
    assert value["output"] == "pw=hunter22"


def test_keys_are_not_rewritten() -> None:
    assert Redactor(["hunter22"]).value({"hunter22": "x"}) == {"hunter22": "x"}


def test_no_secrets_changes_nothing() -> None:
    redactor = for_container(make_container({}))
    assert redactor.text("anything at all") == "anything at all"
    assert redactor.value({"a": ["b"]}) == {"a": ["b"]}
