"""The public answer page: no sign-in, no JavaScript, light, in the customer's language;
each answer is an Evaluation stored through the one submit service."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from feedback import services
from feedback.models import FeedbackResponse
from tests.conftest import Personas
from tests.feedback.conftest import Setup, make_setup
from tests.round_trips import besides_transaction, sends
from touchpoints.models import Evaluation, Source

pytestmark = pytest.mark.django_db


def answer_url(setup: Setup) -> str:
    return reverse("feedback-answer", args=[setup.link.token])


def post(client: Client, setup: Setup, **fields: str) -> object:
    data = {f"q{setup.scale.pk}": "4", f"q{setup.yes_no.pk}": "1", "comment": "", "website": ""}
    data.update(fields)
    return client.post(answer_url(setup), data)


def test_page_answers_without_sign_in_and_without_javascript(setup: Setup) -> None:
    page = Client().get(answer_url(setup))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)
    assert "How friendly were we?" in html and "Did you find everything?" in html
    assert 'type="radio"' in html and 'name="comment"' in html
    # Only our own origin: no third-party request anywhere on the page.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert "personal data" in html


def test_page_and_its_css_weigh_under_30_kb(setup: Setup) -> None:
    client = Client()
    page = client.get(answer_url(setup))
    (css,) = re.findall(r'href="([^"]+\.css)"', page.content.decode())
    stylesheet = client.get(css)
    body = b"".join(stylesheet.streaming_content) if stylesheet.streaming else stylesheet.content
    assert len(page.content) + len(body) < 30_000, (len(page.content), len(body))


def test_an_answer_is_a_customer_survey_evaluation_through_the_link(
    personas: Personas, setup: Setup, django_capture_on_commit_callbacks: object
) -> None:
    before = timezone.now()
    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        response = post(Client(), setup, comment="  Lovely staff.  ")
    assert response.status_code == 303
    assert response["Location"] == reverse("feedback-thanks", args=[setup.link.token])
    evaluation = Evaluation.objects.get()
    assert evaluation.source == Source.CUSTOMER_SURVEY
    assert evaluation.evaluator is None
    assert evaluation.site_id == setup.site.pk
    assert evaluation.touch_point_id == setup.touch_point.pk
    assert evaluation.rubric_version == setup.touch_point.rubric_version
    assert before <= evaluation.observed_at <= timezone.now()
    assert evaluation.comment == "Lovely staff."
    assert evaluation.score is not None  # scored in SQL by the submit service
    assert {a.criterion_id: a.value for a in evaluation.answers.all()} == {
        setup.scale.pk: 4.0,
        setup.yes_no.pk: 1.0,
    }
    assert FeedbackResponse.objects.get().link_id == setup.link.pk
    # The same path as every evaluation: the touch point is marked for a recompute.
    from scoring.models import StaleMark

    assert StaleMark.objects.filter(touch_point_id=setup.touch_point.pk).exists()


def test_thank_you_page_does_not_invite_a_second_answer(setup: Setup) -> None:
    client = Client()
    thanks = client.get(post(client, setup)["Location"])  # type: ignore[index]
    assert thanks.status_code == 200
    html = thanks.content.decode()
    assert "Thank you" in html
    assert "<form" not in html and answer_url(setup) not in html


def test_revoked_and_expired_links_answer_410_unknown_404(personas: Personas, setup: Setup) -> None:
    expiring = services.create_link(
        actor=personas.manager,
        touch_point=setup.touch_point,
        expires_at=timezone.now() + timedelta(seconds=1),
    )
    from feedback.models import FeedbackLink

    FeedbackLink.objects.filter(pk=expiring.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.revoke_link(actor=personas.manager, link=setup.link)
    client = Client()
    for token in (setup.link.token, expiring.token):
        url = reverse("feedback-answer", args=[token])
        for response in (client.get(url), client.post(url, {f"q{setup.scale.pk}": "5"})):
            assert response.status_code == 410
            assert b"no longer takes answers" in response.content
    for token in ("A" * 22, "nope", "x" * 200, "%C3%A9t%C3%A9"):
        response = client.get(f"/f/{token}/")
        assert response.status_code == 404
        assert b"could not find this feedback page" in response.content
    assert Evaluation.objects.count() == 0


def test_no_answer_is_a_form_error_announced_and_stores_nothing(setup: Setup) -> None:
    response = Client().post(answer_url(setup), {"comment": "hello"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Please answer at least one question." in html
    assert Evaluation.objects.count() == 0


def test_german_from_accept_language_and_from_the_links_setting(
    personas: Personas, setup: Setup
) -> None:
    german = Client(headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"}).get(answer_url(setup))
    assert german["Content-Language"] == "de"
    html = german.content.decode()
    assert '<html lang="de">' in html
    for word in ("Ihr Feedback", "Ja", "Nein", "Senden", "personenbezogenen"):
        assert word in html, word
    # The manager's question texts are shown as entered.
    assert "How friendly were we?" in html
    english = Client(headers={"accept-language": "en-GB"}).get(answer_url(setup))
    assert english["Content-Language"] == "en" and "Send" in english.content.decode()
    fixed = services.create_link(
        actor=personas.manager, touch_point=setup.touch_point, language="de"
    )
    forced = Client(headers={"accept-language": "en"}).get(
        reverse("feedback-answer", args=[fixed.token])
    )
    assert forced["Content-Language"] == "de" and "Senden" in forced.content.decode()


def test_outsider_persona_links_answer_only_about_their_own_touch_point(
    personas: Personas, setup: Setup
) -> None:
    """Another organization's link stores into that organization only, whatever is posted."""
    from tests.factories import MembershipFactory  # noqa: F401  (personas made the outsider)

    other = make_setup(
        Personas(
            org=personas.other_org,
            manager=personas.outsider,
            evaluator=personas.outsider,
            viewer=personas.outsider,
            other_org=personas.org,
            outsider=personas.manager,
        )
    )
    # Our criteria's fields posted to their link are not their questions: nothing stored.
    response = Client().post(
        reverse("feedback-answer", args=[other.link.token]), {f"q{setup.scale.pk}": "5"}
    )
    assert response.status_code == 400
    assert Evaluation.objects.count() == 0


def test_german_catalog_is_complete_and_compiled() -> None:
    """Every message of the .po has a German text, and the committed .mo says the same
    (a .po edited without compilemessages would show English on the page)."""
    from pathlib import Path

    from django.utils import translation

    po = (Path(services.__file__).parent / "locale/de/LC_MESSAGES/django.po").read_text()
    entries = re.findall(r'\nmsgid ((?:"[^\n]*"\n)+)msgstr ((?:"[^\n]*"\n?)+)', po)

    def text(block: str) -> str:
        return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', block)).replace('\\"', '"')

    pairs = [(text(i), text(s)) for i, s in entries if text(i)]
    assert len(pairs) >= 30
    with translation.override("de"):
        for msgid, msgstr in pairs:
            assert msgstr, f"untranslated: {msgid!r}"
            assert translation.gettext(msgid) == msgstr, msgid


def test_query_counts_of_the_public_page_are_pinned(
    setup: Setup, django_assert_num_queries: Any
) -> None:
    """The page reads the link with its touch point's rubric version and its set-up (one
    query; the questions built from them are kept per process) and the touch point's name
    for the heading: two queries, however many links, questions or answers exist. An
    answer adds the one submit path's queries."""
    client = Client()
    client.get(answer_url(setup))
    with django_assert_num_queries(2):
        client.get(answer_url(setup))
    # 11 statements: the link and its form; BEGIN; the touch point locked and read, with
    # its criteria and the site; the evaluation with its scored answers and its score
    # (one statement); the row naming the link; scoring's four day rollups and stale
    # mark; COMMIT. No savepoint, and no critical failures' statement when no critical
    # criterion was answered. Sent in 4 queries besides BEGIN and COMMIT: the form; the
    # lock with its reads; the evaluation; the rest, held until the stale mark's
    # RETURNING (core.write_batch). Each round trip costs both sides CPU under load.
    with django_assert_num_queries(11), sends() as sent:
        assert post(Client(), setup).status_code == 303  # type: ignore[attr-defined]
    assert len(besides_transaction(sent)) == 4, sent


def test_the_page_follows_every_change_of_what_it_asks(personas: Personas, setup: Setup) -> None:
    """The questions are kept per process between requests, keyed by the touch point's
    rubric version and the set-up's last change: a new text, a new scale or an archived
    criterion shows on the very next request, and an answer is checked against the page
    as it is now."""
    from touchpoints.services import archive_criterion, update_criterion

    def page() -> str:
        return Client().get(answer_url(setup)).content.decode()

    assert "How friendly were we?" in page()
    services.save_questions(
        actor=personas.manager,
        touch_point=setup.touch_point,
        questions=[
            services.QuestionInput(setup.scale.pk, "How kind were we?"),
            services.QuestionInput(setup.yes_no.pk, "Did you find everything?"),
        ],
        ask_comment=False,
    )
    html = page()
    assert "How kind were we?" in html and 'name="comment"' not in html
    update_criterion(actor=personas.manager, criterion=setup.scale, data={"scale_size": 3})
    html = page()
    assert f'name="q{setup.scale.pk}" value="3"' in html
    assert f'name="q{setup.scale.pk}" value="4"' not in html
    refused = post(Client(), setup)  # "4" was a choice of the old page, not of this one
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "Choose one of the answers shown." in refused.content.decode()  # type: ignore[attr-defined]
    assert not Evaluation.objects.exists()
    archive_criterion(actor=personas.manager, criterion=setup.scale)
    html = page()
    assert "How kind were we?" not in html and "Did you find everything?" in html
    assert post(Client(), setup).status_code == 303  # type: ignore[attr-defined]
    assert Evaluation.objects.get().answers.get().criterion_id == setup.yes_no.pk
