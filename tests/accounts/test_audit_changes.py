"""The one audit diff (accounts.services.audit_changes) that the services and the admin's
audited saves both record: `{field: [old, new]}` of the fields that changed, in JSON."""

from __future__ import annotations

import datetime
import json

from accounts.models import Organization
from accounts.services import audit_changes
from journeys.models import Journey


def test_only_fields_whose_value_changed_are_recorded() -> None:
    journey = Journey(name="Install", target=80.0, status="draft")
    changes = audit_changes(journey, {"name": "Installation", "target": 80.0, "status": "draft"})
    assert changes == {"name": ["Install", "Installation"]}


def test_a_row_is_recorded_as_its_id_and_a_date_as_iso_text() -> None:
    before = {"organization": 3, "day": datetime.date(2026, 5, 1)}
    after = {"organization": Organization(pk=4), "day": datetime.date(2026, 5, 2)}
    assert audit_changes(before, after) == {
        "organization": [3, 4],
        "day": ["2026-05-01", "2026-05-02"],
    }


def test_lists_keep_their_items_rather_than_becoming_their_text() -> None:
    changes = audit_changes({"scale_labels": ["Bad", "Good"]}, {"scale_labels": ["Poor", "Good"]})
    assert changes == {"scale_labels": [["Bad", "Good"], ["Poor", "Good"]]}


def test_every_recorded_diff_is_storable_as_json() -> None:
    after = {"when": datetime.datetime(2026, 5, 1, 9, 30, tzinfo=datetime.UTC), "odd": object()}
    changes = audit_changes({"when": None, "odd": None}, after)
    json.dumps(changes)
    assert changes["when"] == [None, "2026-05-01T09:30:00+00:00"]
