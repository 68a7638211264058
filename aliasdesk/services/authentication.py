"""Whether the receiving server vouched for the sender (RFC 8601 Authentication-Results).

Used when ALIASDESK_REQUIRE_AUTH_RESULTS is on: a From header alone is easy to forge, so
commands then need DMARC to pass, or DKIM/SPF to pass for the From domain.
"""

from __future__ import annotations

import re

from aliasdesk.mail.model import ParsedMail

_RESULT = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*(\w+)([^;]*)", re.IGNORECASE)
_DOMAIN = re.compile(
    r"\b(?:header\.from|header\.d|header\.i|smtp\.mailfrom)\s*=\s*@?([^\s;]+)", re.IGNORECASE
)


def sender_authenticated(mail: ParsedMail, sender: str) -> bool:
    domain = sender.rpartition("@")[2].lower()
    if not domain:
        return False
    # Only the topmost header is the receiving server's own; lower ones may be forged.
    for header in mail.header_values("authentication-results")[:1]:
        for method, result, props in _RESULT.findall(header):
            if result.lower() != "pass":
                continue
            named = [d.lower().rpartition("@")[2] for d in _DOMAIN.findall(props)]
            if method.lower() == "dmarc" and (not named or domain in named):
                return True
            if domain in named:
                return True
    return False
