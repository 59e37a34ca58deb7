"""Value-format checks, with Kubernetes' messages (DNS labels and subdomains, qualified
names, label values, port and env names, IPs, Go zero values)."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

# ---------------------------------------------------------------------------
# Value formats, with Kubernetes' messages (k8s.io/apimachinery/pkg/util/validation).
# ---------------------------------------------------------------------------

_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT: Final = f"({_QUALIFIED_NAME_FMT})?"
_HTTP_HEADER_NAME_FMT: Final = "[-A-Za-z0-9]+"

_DNS1123_LABEL_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_HTTP_HEADER_NAME_MSG: Final = "a valid HTTP header must consist of alphanumeric characters or '-'"

_PORT_RANGE_MSG: Final = "must be between 1 and 65535, inclusive"
_ID_RANGE_MSG: Final = "must be between 0 and 2147483647, inclusive"
_NEGATIVE_MSG: Final = "must be greater than or equal to 0"
_IP_MSG: Final = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_ABSOLUTE_MSG: Final = "must be an absolute path"
_INT64_MAX: Final = 2**63 - 1


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, down to its doubled space between examples."""
    shown = "" if not examples else "e.g. " + " or ".join(f"'{e}', " for e in examples)
    return f"{message} ({shown}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))  # Go counts bytes


def _dns_label_errors(value: str) -> list[str]:
    errors = [_max_len_error(63)] if _byte_len(value) > 63 else []
    if not re.fullmatch(_DNS1123_LABEL_FMT, value):
        if re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
            errors.append("must not contain dots")
        else:
            errors.append(
                _regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc")
            )
    return errors


def _dns_subdomain_errors(value: str) -> list[str]:
    errors = [_max_len_error(253)] if _byte_len(value) > 253 else []
    if not re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def _qualified_name_errors(value: str) -> list[str]:
    parts = value.split("/")
    name_regex = _regex_error(
        _QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
    )
    if len(parts) > 2:
        return [
            f"a qualified name {name_regex} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    errors: list[str] = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(f"prefix part {msg}" for msg in _dns_subdomain_errors(prefix))
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    elif _byte_len(name) > 63:
        errors.append(f"name part {_max_len_error(63)}")
    if not re.fullmatch(_QUALIFIED_NAME_FMT, name):
        errors.append(f"name part {name_regex}")
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors = [_max_len_error(63)] if _byte_len(value) > 63 else []
    if not re.fullmatch(_LABEL_VALUE_FMT, value):
        errors.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors


def _port_name_errors(value: str) -> list[str]:
    """validation.IsValidPortName: an IANA_SVC_NAME."""
    errors = [_max_len_error(15)] if len(value) > 15 else []
    if not re.fullmatch("[-a-z0-9]+", value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _env_name_errors(value: str) -> list[str]:
    """validation.IsRelaxedEnvVarName."""
    if all(" " <= char <= "~" and char != "=" for char in value):
        return []
    return ["must consist only of printable ASCII characters except '='"]


def _is_ip(text: str) -> bool:
    if "%" in text:  # Python accepts IPv6 zone indexes; Kubernetes does not
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_zero(value: object) -> bool:
    """Whether Go would decode ``value`` to its zero value (what omitempty leaves out)."""
    if value is None or value is False or value == "":
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, list | dict) and not value
