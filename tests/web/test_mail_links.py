"""Which mail carries a page link: every mail to the requester, nothing to anyone else."""

from __future__ import annotations

from aliasdesk.runtime import Runtime
from gateway.local_servers import SmtpSink
from tests.support.harness import build_mail, drain_jobs, feed
from tests.web.conftest import BASE, DAVE, caught, html_of, member_mail


def test_only_the_requesters_mail_links_to_the_page(desk: Runtime, smtp_sink: SmtpSink) -> None:
    feed(desk, build_mail(DAVE, headers={"Cc": "Wendy Watcher <wendy@example.com>"}))
    drain_jobs(desk)
    ref = next(c for c in caught(smtp_sink) if "dave@example.com" in c.recipients).subject
    ref = ref.split("]")[0].strip("[")
    feed(desk, member_mail(ref, "The form is LV-2.\n"))
    feed(desk, member_mail(ref, "#resolve"))
    drain_jobs(desk)
    mails = caught(smtp_sink)
    to_dave = [c for c in mails if c.recipients == ["dave@example.com"]]
    kinds = {"Your request is now ticket", "The form is LV-2.", "How did we do?"}
    assert all(any(k in c.text for c in to_dave) for k in kinds), [c.text for c in to_dave]
    pages = {c.links()[-1] for c in to_dave}
    assert len(pages) == 1, "one page per ticket and requester"
    page = pages.pop()
    for mail in to_dave:
        assert f'href="{BASE}{page}' in html_of(mail.message)
    for mail in mails:
        if mail.recipients != ["dave@example.com"]:
            assert "/t/" not in mail.text and "/t/" not in html_of(mail.message), mail.recipients
    assert any(c.recipients == ["wendy@example.com"] for c in mails), "the watcher heard"
