"""#merge and #move as a member works them: by answering the assignment mail that
reached their inbox, through a real IMAP mailbox (pymap and Dovecot) and a real SMTP
sink, on SQLite and PostgreSQL; the tickets read back with ``aliasdesk tickets show``.

And the forger: anyone can write a member's address in From, quote a Message-ID they
were sent, or add an Authentication-Results header of their own; none of it may apply a
command.
"""

from __future__ import annotations

import json

from tests.support.harness import build_mail
from tests.support.mail_desk import MailDesk, answer, kind_of, text_of

DAVE = "Dave Miller <dave@example.com>"
ERIN = "Erin Wood <erin@example.com>"
ALICE = "Alice Archer <alice@example.com>"
CAROL = "Carol Diaz <carol@example.com>"


def test_merge_tells_the_requester_and_the_old_tag_follows_but_not_across_requesters(
    mail_desk: MailDesk,
) -> None:
    desk = mail_desk
    first = desk.send(build_mail(DAVE, "hr@example.com", "Parental leave", "Which form?"))
    [old_ack], [old_assignment] = first.to("dave@example.com"), first.to("alice@example.com")
    later = desk.send(
        build_mail(DAVE, "hr@example.com", "Leave dates", "I plan June to August."),
        build_mail(ERIN, "hr@example.com", "My own leave", "Erin's own question."),
    )
    [erins] = [m for m in later.to("alice@example.com") if "[HR-3]" in m["Subject"]]

    sent = desk.send(answer(old_assignment, ALICE, "#merge HR-2"))
    [notice] = sent.to("dave@example.com")
    assert kind_of(notice) == "ticket_moved" and notice["Subject"].startswith("[HR-2]")
    assert "handling the two together as HR-2" in " ".join(text_of(notice).split())
    assert sent.recipients == {"dave@example.com"}  # no refusal for Alice, nothing to Erin
    old, new = desk.show("HR-1"), desk.show("HR-2")
    assert (old["status"], old["links"], new["links"]) == ("closed", ["HR-2"], ["HR-1"])
    assert any(e["kind"] == "merged" and "HR-1" in e["detail"] for e in new["events"])

    # Dave answers the old acknowledgement, [HR-1] in its subject: it lands in HR-2.
    sent = desk.send(answer(old_ack, DAVE, "Is form L-2 fine too?"))
    [relayed] = sent.to("alice@example.com")
    assert relayed["Subject"].startswith("[HR-2]") and "Is form L-2" in text_of(relayed)
    inbound = [m["text"].strip() for m in desk.show("HR-2")["messages"] if m["direction"] == "in"]
    assert inbound == ["Which form?", "I plan June to August.", "Is form L-2 fine too?"]
    assert [t["ref"] for t in json.loads(desk.cli("tickets", "list", "--json").stdout)] == [
        "HR-3",
        "HR-2",
        "HR-1",
    ]

    # Erin's request is hers: Alice may not fold Dave's conversation into it.
    sent = desk.send(answer(erins, ALICE, "#merge HR-2"))
    [result] = sent.to("alice@example.com")
    assert kind_of(result) == "command_result"
    assert "HR-2 is another requester's request" in text_of(result)
    assert "Leave dates" not in text_of(result) and "June" not in text_of(result)
    assert sent.recipients == {"alice@example.com"}
    assert (desk.show("HR-3")["status"], desk.show("HR-3")["links"]) == ("new", [])


def test_move_hands_the_ticket_to_it_releases_the_old_owner_and_tells_the_requester(
    mail_desk: MailDesk,
) -> None:
    desk = mail_desk
    first = desk.send(build_mail(DAVE, "hr@example.com", "Laptop for leave", "Which laptop?"))
    [ack], [assignment] = first.to("dave@example.com"), first.to("alice@example.com")

    sent = desk.send(answer(assignment, ALICE, "#move IT"))
    [notice] = sent.to("dave@example.com")
    assert kind_of(notice) == "ticket_moved" and notice["Subject"].startswith("[IT-1]")
    assert notice["From"].addresses[0].addr_spec == "it@example.com"
    assert "Human Resources has passed your request HR-1 to IT Support" in text_of(notice)
    [handed] = sent.to("carol@example.com")
    assert kind_of(handed) == "assignment" and "Which laptop?" in text_of(handed)
    assert not sent.to("alice@example.com")
    old, new = desk.show("HR-1"), desk.show("IT-1")
    assert (old["status"], old["owner"], old["links"]) == ("closed", None, ["IT-1"])
    assert (new["department"], new["owner"], new["links"]) == ("IT", "carol@example.com", ["HR-1"])
    assert new["requester"] == "dave@example.com"

    # Dave answers the HR acknowledgement: IT's owner hears it, HR's does not.
    sent = desk.send(answer(ack, DAVE, "Any news?"))
    assert not sent.to("alice@example.com")
    [relayed] = sent.to("carol@example.com")
    assert relayed["Subject"].startswith("[IT-1]") and "Any news?" in text_of(relayed)

    # Carol answers from IT; Alice, answering her old HR mail, is no IT member any more.
    sent = desk.send(answer(handed, CAROL, "A ThinkPad is on its way."))
    [reply] = sent.to("dave@example.com")
    assert reply["From"].addresses[0].addr_spec == "it@example.com"
    assert "ThinkPad" in text_of(reply)
    sent = desk.send(answer(assignment, ALICE, "#resolve\nDone from HR."))
    assert not sent.to("dave@example.com")
    assert desk.show("IT-1")["status"] == "open"


FORGED = (
    "#merge HR-2",
    "#move IT",
    "#cc mallory@evil.example",
    "#reply parental-leave",
    "#resolve",
    "#assign bob@example.com",
)


def test_a_forged_member_changes_nothing_whatever_they_try(mail_desk: MailDesk) -> None:
    """Mallory writes as Alice three ways: bare; with an Authentication-Results of her own
    server; and quoting the Message-ID of a mail she was sent herself as a watcher."""
    desk = mail_desk
    cc = {"Cc": "Mallory <mallory@evil.example>"}
    desk.send(build_mail(DAVE, "hr@example.com", "Parental leave", "Which form?", headers=cc))
    desk.send(build_mail(DAVE, "hr@example.com", "Leave dates", "June to August."))
    [assignment] = [m for m in desk.inbox("alice@example.com") if "[HR-1]" in m["Subject"]]
    desk.send(answer(assignment, ALICE, "#status pending\nWhich month?"))
    watched = desk.inbox("mallory@evil.example")[-1]
    before = [desk.show(ref) for ref in ("HR-1", "HR-2")]

    theirs = {"Authentication-Results": "mx.evil.example; dmarc=pass header.from=example.com"}
    forged = [
        build_mail(ALICE, "hr@example.com", "Re: [HR-1] Parental leave", command)
        for command in FORGED
    ]
    forged += [
        build_mail(ALICE, "hr@example.com", "Re: [HR-1] x", command, headers=theirs)
        for command in FORGED
    ]
    forged += [answer(watched, ALICE, command) for command in FORGED]
    sent = desk.send(*forged)

    after = [desk.show(ref) for ref in ("HR-1", "HR-2")]
    for was, now in zip(before, after, strict=True):
        for key in ("status", "owner", "priority", "watchers", "links", "department"):
            assert now[key] == was[key], key
    assert len(json.loads(desk.cli("tickets", "list", "--json").stdout)) == 2
    assert sent.recipients == {"alice@example.com"}
    [warning] = sent.to("alice@example.com")  # once per ticket an hour, however many forgeries
    assert kind_of(warning) == "unverified_member"
    assert "could not confirm it really came from you" in " ".join(text_of(warning).split())

    # The real Alice, answering her own mail, still can.
    sent = desk.send(answer(assignment, ALICE, "#priority high\nOn it."))
    assert desk.show("HR-1")["priority"] == "high"
    assert "On it." in text_of(sent.to("dave@example.com")[0])
