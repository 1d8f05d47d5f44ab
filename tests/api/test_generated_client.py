"""A client generated from /api/v1/schema/ by a standard generator (openapi-python-client)
drives the main flow against a live server: structure, evaluations, scores, and the
conditional GET (ETag, then 304). Typed clients crash on exactly the answers that break
the published schema (a null where it promises an enum), so this is the contract as a
client in another language would meet it. Every response is also checked by openapi-core.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from accounts.models import Role
from accounts.tokens import create_token
from scoring.services import recompute_journey
from tests import openapi_check
from tests.factories import MembershipFactory

pytestmark = pytest.mark.slow

GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))
PACKAGE = "touchstone_generated_client"


@pytest.fixture
def generated(tmp_path: Path) -> ModuleType:
    """Generate the client package from the schema into a temporary directory and import it."""
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(openapi_check.schema()))
    subprocess.run(
        [
            GENERATOR, "generate", "--path", str(schema),
            "--output-path", str(tmp_path / PACKAGE), "--meta", "none",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _checked(response: httpx.Response) -> None:
    """openapi-core's verdict on every answer the generated client gets."""
    response.read()
    request = response.request
    openapi_check.check_raw(
        method=request.method,
        path=request.url.path,
        query=dict(request.url.params),
        request_headers=dict(request.headers),
        status=response.status_code,
        headers=dict(response.headers),
        body=response.content,
    )


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_generated_client_builds_a_map_evaluates_and_reads_scores_with_etags(
    generated: ModuleType, live_server: Any, recompute_requests: Any
) -> None:
    manager = MembershipFactory(role=Role.MANAGER).user
    _, raw = create_token(user=manager, name="generated client")
    client = generated.AuthenticatedClient(
        base_url=live_server.url,
        token=raw,
        raise_on_unexpected_status=True,
        httpx_args={"event_hooks": {"response": [_checked]}},
    )
    models = _module(generated, "models")
    api = _module(generated, "api")

    def call(endpoint: str, **kwargs: Any) -> Any:
        group, name = endpoint.split(".")
        response = importlib.import_module(f"{api.__name__}.{group}.{name}").sync_detailed(
            client=client, **kwargs
        )
        assert response.status_code < 400, (endpoint, response.status_code, response.content)
        return response

    journey = call(
        "journeys.journeys_create",
        body=models.JourneyRequest(name="Broadband", status=models.JourneyStatusEnum.ACTIVE),
    ).parsed
    empty = call("journeys.journeys_scores_retrieve", id=journey.id).parsed
    assert isinstance(empty, models.JourneyScores)
    assert empty.window is None and empty.touch_points == []  # nothing computed yet

    stage = call(
        "stages.stages_create", body=models.StageRequest(journey=journey.id, name="Install")
    ).parsed
    touch_points, criteria = [], []
    for name, importance in (("Booking", 3), ("Visit", 5)):
        tp = call(
            "touchpoints.touchpoints_create",
            body=models.TouchPointRequest(stage=stage.id, name=name, importance=importance),
        ).parsed
        touch_points.append(tp)
        criteria.append(
            call(
                "criteria.criteria_create",
                body=models.CriterionRequest(
                    touch_point=tp.id, name="On time", kind=models.KindEnum.SCALE, scale_size=5
                ),
            ).parsed
        )
    now = datetime.now(UTC)
    batch = [
        models.EvaluationInputRequest(
            touch_point=tp.id,
            source=models.EvaluationInputSourceEnum.SUPERVISOR,
            observed_at=now - timedelta(hours=i + 1),
            answers=[models.AnswerInputRequest(criterion=criterion.id, value=1 + i % 5)],
        )
        for tp, criterion in zip(touch_points, criteria, strict=True)
        for i in range(6)
    ]
    call("evaluations.evaluations_create", body=batch, idempotency_key="generated-1")

    pending = call("journeys.journeys_scores_retrieve", id=journey.id).parsed
    assert pending.pending is True
    assert [row.trend.direction for row in pending.touch_points] == [None, None]

    recompute_journey(journey.id)  # what the worker does
    response = call("journeys.journeys_scores_retrieve", id=journey.id)
    scores = response.parsed
    assert scores.pending is False and scores.score is not None
    assert [row.n for row in scores.touch_points] == [6, 6]
    assert scores.touch_points[-1].is_last is True
    etag = response.headers["etag"]

    again = call("journeys.journeys_scores_retrieve", id=journey.id, if_none_match=etag)
    assert again.status_code == 304 and again.content == b""

    detail = call("touchpoints.touchpoints_scores_retrieve", id=touch_points[0].id).parsed
    assert isinstance(detail, models.TouchPointScores) and detail.touch_point.n == 6
    weak = call("weak_links.weak_links_list").parsed
    assert isinstance(weak, models.OrganizationWeakLinks) and weak.window is None
