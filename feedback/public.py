"""The public answer page: no sign-in, no JavaScript, a few kilobytes, in the customer's
language, and safe on the open internet.

Order of the checks on a POST, cheapest first: the body size (413 before anything is
parsed), the rate limits per client address and per link (429, counted in Redis by
django-ratelimit, failing open when Redis is away), the honeypot and the device cookie
(both answer the thank-you page and store nothing), then the answers themselves, parsed
only against the page's own fixed choices, then the one submit service.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from accounts.brute_force import client_ip
from core.text import is_storable
from feedback import selectors, services
from feedback.models import PUBLIC_COMMENT_MAX_LENGTH, FeedbackLink
from touchpoints.models import CriterionKind

log = logging.getLogger(__name__)

HONEYPOT = "website"
COOKIE_SALT = "touchstone.feedback.answered"


def _language(request: HttpRequest, link: FeedbackLink | None) -> str:
    """The link's language if it has one, else the best match of Accept-Language."""
    if link is not None and link.language:
        return link.language
    return translation.get_language_from_request(request)


def _page(
    request: HttpRequest,
    link: FeedbackLink | None,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    language = _language(request, link)
    with translation.override(language):
        response = render(
            request, template, {"lang": language, "link": link, **context}, status=status
        )
    response["Content-Language"] = language
    # The language follows Accept-Language when the link has none.
    response["Vary"] = "Accept-Language, Cookie"
    return response


def _cookie_name(link: FeedbackLink) -> str:
    return f"tsfb{link.pk}"


def answered_recently(request: HttpRequest, link: FeedbackLink) -> bool:
    """This device answered this link within FEEDBACK_REPEAT_SECONDS (its signed cookie)."""
    return (
        request.get_signed_cookie(
            _cookie_name(link),
            default=None,
            salt=COOKIE_SALT,
            max_age=settings.FEEDBACK_REPEAT_SECONDS,
        )
        is not None
    )


def _limited(request: HttpRequest, link: FeedbackLink) -> bool:
    """Count this POST against the address's and the link's limits; True if over either.

    The address first, so one noisy address does not use up the link's budget. Redis
    away: nothing is counted and nothing refused (fail open), as the evaluation itself
    is stored in PostgreSQL."""
    checks = (
        (
            "feedback-address",
            lambda group, req: client_ip(req) or "unknown",
            settings.FEEDBACK_ADDRESS_RATE,
        ),
        ("feedback-link", lambda group, req: link.token, settings.FEEDBACK_LINK_RATE),
    )
    for group, key, rate in checks:
        try:
            usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
        except (RedisError, OSError):
            log.warning("Feedback rate limit not checked: Redis unavailable.", exc_info=True)
            return False
        if usage is not None and usage["should_limit"]:
            return True
    return False


def _parse(form: selectors.PublicForm, data: Any) -> tuple[dict[int, float], str, dict[str, str]]:
    """Answers from the POST, each only one of its question's own choices; anything else
    is a form error. Returns (answers, comment, errors by field)."""
    answers: dict[int, float] = {}
    errors: dict[str, str] = {}
    for question in form.questions:
        given = data.getlist(question.field)
        raw = given[0] if len(given) == 1 else ("" if not given else None)
        if raw == "":
            continue
        # One value, exactly one of the choices shown: "4.0", " 4", "NaN", "٣", a second
        # value for the same question are all refused, never coerced.
        choice = next((c for c in question.choices if c.value == raw), None)
        if choice is None:
            errors[question.field] = translation.gettext("Choose one of the answers shown.")
        else:
            answers[question.criterion_id] = choice.number
    comments = data.getlist("comment") if form.ask_comment else []
    comment = comments[0] if len(comments) == 1 else ""
    if len(comments) > 1:
        errors["comment"] = translation.gettext("Please send one comment.")
    elif len(comment) > PUBLIC_COMMENT_MAX_LENGTH:
        errors["comment"] = translation.gettext(
            "Please keep your comment under %(max)d characters."
        ) % {"max": PUBLIC_COMMENT_MAX_LENGTH}
    elif not is_storable(comment):
        errors["comment"] = translation.gettext(
            "Your comment contains a character we cannot store."
        )
    if not answers and not errors:
        errors["form"] = translation.gettext("Please answer at least one question.")
    return answers, comment, errors


def _form_page(
    request: HttpRequest,
    link: FeedbackLink,
    form: selectors.PublicForm,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    errors = errors or {}
    posted = request.POST if request.method == "POST" else {}
    return _page(
        request,
        link,
        "feedback/public/answer.html",
        {
            "form": form,
            "errors": errors,
            "questions": [
                {"q": q, "error": errors.get(q.field), "selected": posted.get(q.field)}
                for q in form.questions
            ],
            "comment": posted.get("comment", ""),
            "comment_max": PUBLIC_COMMENT_MAX_LENGTH,
            "yes_no": CriterionKind.YES_NO,
        },
        status=status,
    )


def _closed(request: HttpRequest, link: FeedbackLink) -> HttpResponse:
    return _page(request, link, "feedback/public/closed.html", {}, status=410)


def _thanks_redirect(link: FeedbackLink) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("feedback-thanks", args=[link.token]), status=303)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    form = selectors.form_for_token(token)
    if form is None:
        return _page(request, None, "feedback/public/unknown.html", {}, status=404)
    link = form.link
    if not link.is_open:
        return _closed(request, link)
    if answered_recently(request, link):
        return _page(request, link, "feedback/public/thanks.html", {"again": True})
    if request.method != "POST":
        return _form_page(request, link, form)

    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = settings.FEEDBACK_MAX_BODY_BYTES + 1
    if length > settings.FEEDBACK_MAX_BODY_BYTES:
        return _page(
            request, link, "feedback/public/error.html", {"reason": "too_large"}, status=413
        )
    if _limited(request, link):
        response = _page(
            request, link, "feedback/public/error.html", {"reason": "busy"}, status=429
        )
        response["Retry-After"] = "60"
        return response
    if request.POST.get(HONEYPOT):
        # A form filler that saw the hidden field: it learns nothing, nothing is stored.
        return _thanks_redirect(link)

    language = _language(request, link)
    with translation.override(language):
        answers, comment, errors = _parse(form, request.POST)
    if errors:
        return _form_page(request, link, form, errors=errors, status=400)
    try:
        services.submit_response(link=link, answers=answers, comment=comment)
    except services.LinkClosedError:
        return _closed(request, link)
    except ValidationError as error:
        # The rubric changed under the page (a criterion archived or re-scaled, a
        # critical one unanswered): show the fresh form with the reason.
        log.info("Feedback response refused: %s", error.messages)
        with translation.override(language):
            message = translation.gettext(
                "This form has just changed. Please check your answers and send again."
            )
        fresh = selectors.form_for_token(token) or form
        return _form_page(request, link, fresh, errors={"form": message}, status=400)
    response = _thanks_redirect(link)
    response.set_signed_cookie(
        _cookie_name(link),
        "1",
        salt=COOKIE_SALT,
        max_age=settings.FEEDBACK_REPEAT_SECONDS,
        path=reverse("feedback-answer", args=[link.token]),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    link = selectors.link_for_token(token)
    if link is None:
        return _page(request, None, "feedback/public/unknown.html", {}, status=404)
    return _page(request, link, "feedback/public/thanks.html", {"again": False})
