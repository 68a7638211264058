"""#cc and #uncc, #reply NAME and the requester's own #resolve, worked by answering the
mails that arrived: through a real IMAP mailbox (pymap and Dovecot) and a real SMTP sink,
on SQLite and PostgreSQL; the tickets read back with ``aliasdesk tickets show``."""

from __future__ import annotations

from email.message import EmailMessage

from tests.support.harness import build_mail
from tests.support.languages import english_leaks
from tests.support.mail_desk import MailDesk, answer, kind_of, text_of

DAVE = "Dave Miller <dave@example.com>"
ALICE = "Alice Archer <alice@example.com>"
CAROL = "Carol Diaz <carol@example.com>"
ERIN = "erin@partner.example"
NOTE = "Salary band 7; do not tell Dave yet."


def html_of(mail: EmailMessage) -> str:
    body = mail.get_body(("html",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_a_watcher_gets_the_public_updates_never_a_note_and_nothing_after_uncc(
    mail_desk: MailDesk,
) -> None:
    desk = mail_desk
    first = desk.send(build_mail(DAVE, "hr@example.com", "Parental leave", "Which form?"))
    [assignment] = first.to("alice@example.com")

    sent = desk.send(answer(assignment, ALICE, f"#cc {ERIN}\nHi Dave, I copied Erin (payroll)."))
    [copied] = sent.to(ERIN)
    assert kind_of(copied) == "reply_relay" and "I copied Erin" in text_of(copied)
    assert "#cc" not in text_of(copied)
    assert desk.show("HR-1")["watchers"] == [ERIN]

    sent = desk.send(answer(assignment, ALICE, f"#note\n{NOTE}"))
    assert not sent.to(ERIN) and not sent.to("dave@example.com")

    sent = desk.send(answer(assignment, ALICE, "#status pending\nPlease send form L-1."))
    assert sorted(sent.kinds(ERIN)) == ["reply_relay", "status_update"]
    assert any("Please send form L-1." in text_of(m) for m in sent.to(ERIN))

    sent = desk.send(answer(assignment, ALICE, f"#uncc {ERIN}\nThanks, Erin."))
    assert not sent.to(ERIN) and "Thanks, Erin." in text_of(sent.to("dave@example.com")[0])
    sent = desk.send(answer(assignment, ALICE, "#resolve\nAll done."))
    assert not sent.to(ERIN)
    assert sorted(sent.kinds("dave@example.com")) == ["feedback_request", "reply_relay"]
    shown = desk.show("HR-1")
    assert (shown["watchers"], shown["status"]) == ([], "resolved")

    # Everything Erin ever got: no note, and nothing from before she was copied.
    everything = "".join(m.as_string() for m in desk.inbox(ERIN))
    assert len(desk.inbox(ERIN)) == 3
    assert "Salary band" not in everything and "Which form?" not in everything


REQUEST = (
    "Guten Tag, mein VPN-Zugang funktioniert seit heute Morgen nicht mehr. Können Sie "
    "ihn bitte zurücksetzen?"
)


def test_a_saved_answer_reaches_the_requester_filled_in_and_in_their_language(
    mail_desk: MailDesk,
) -> None:
    desk = mail_desk
    dieter = "Dieter Brandt <dieter@example.com>"
    first = desk.send(build_mail(dieter, "it@example.com", "VPN-Zugang gesperrt", REQUEST))
    [assignment] = first.to("carol@example.com")

    sent = desk.send(answer(assignment, CAROL, "#reply vpn-reset"))
    [relay] = sent.to("dieter@example.com")
    assert kind_of(relay) == "reply_relay" and relay["Subject"].startswith("[IT-1]")
    text = text_of(relay)
    assert "Hallo Dieter Brandt," in text and "Ihr VPN-Zugang ist zurückgesetzt." in text
    assert "Carol Diaz, IT Support" in text
    assert "{{" not in text and "#reply" not in text and "your VPN access" not in text
    assert '<html lang="de">' in html_of(relay)
    facts = ["VPN-Zugang gesperrt", REQUEST, "Dieter Brandt", "Carol Diaz", "IT Support"]
    assert english_leaks([text, html_of(relay)], [], "de", facts) == []
    stored = [m["text"] for m in desk.show("IT-1")["messages"] if m["direction"] == "in"]
    assert "Ihr VPN-Zugang ist zurückgesetzt." in stored[-1]
    assert not sent.to("carol@example.com")  # no refusal to report


def test_the_requester_resolves_their_own_request_and_is_asked_for_feedback(
    mail_desk: MailDesk,
) -> None:
    desk = mail_desk
    cc = {"Cc": f"Erin Watts <{ERIN}>"}
    request = build_mail(DAVE, "hr@example.com", "Parental leave", "Which form?", headers=cc)
    first = desk.send(request)
    [assignment] = first.to("alice@example.com")
    sent = desk.send(answer(assignment, ALICE, "Which month do you plan?"))
    [question], [watched] = sent.to("dave@example.com"), sent.to(ERIN)

    # A watcher may not resolve it; she is told why.
    sent = desk.send(answer(watched, f"Erin Watts <{ERIN}>", "#resolve"))
    [refusal] = sent.to(ERIN)
    assert kind_of(refusal) == "command_result"
    assert "only members of HR can do this" in text_of(refusal)
    assert desk.show("HR-1")["status"] == "open"

    sent = desk.send(answer(question, DAVE, "#resolve\nSolved: I found the form myself."))
    [feedback] = sent.to("dave@example.com")
    assert kind_of(feedback) == "feedback_request" and feedback["Subject"].startswith("[HR-1]")
    said = " ".join(text_of(feedback).split())
    assert 'You have marked your request HR-1 ("Parental leave") as solved.' in said
    assert "Reply with a number from 1 to 5" in said and "Dave Miller has marked" not in said
    [told] = sent.to("alice@example.com")
    assert kind_of(told) == "reply_relay" and "I found the form myself" in text_of(told)
    assert sent.kinds(ERIN) == ["status_update"]
    shown = desk.show("HR-1")
    assert shown["status"] == "resolved" and shown["resolved_at"] is not None

    desk.send(answer(feedback, DAVE, "5 quick and clear"))
    shown = desk.show("HR-1")
    assert (shown["status"], shown["rating"]) == ("resolved", 5)
