"""Whether records of an app above journeys depend on a journey or a stage.

Deleting a journey or a stage nobody evaluated removes it; one that evaluations point to
is archived instead (journeys.services). Evaluations live in touchpoints, above this app,
so journeys does not look for them itself: touchpoints registers its checks here when
its app is ready (touchpoints.apps), and journeys asks every registered check.

Should no check be registered, the answer is "not in use" and the delete goes ahead; the
evaluations' PROTECT foreign keys still refuse it, with an error instead of an archive.
"""

from __future__ import annotations

from collections.abc import Callable

#: Takes a journey's or a stage's id; True if some record depends on it.
Check = Callable[[int], bool]

_journey_checks: dict[str, Check] = {}
_stage_checks: dict[str, Check] = {}


def register(name: str, *, journey: Check, stage: Check) -> None:
    """Register (or replace, under the same name) an app's checks."""
    _journey_checks[name] = journey
    _stage_checks[name] = stage


def journey_in_use(journey_id: int) -> bool:
    return any(check(journey_id) for check in _journey_checks.values())


def stage_in_use(stage_id: int) -> bool:
    return any(check(stage_id) for check in _stage_checks.values())
