"""Routes of the structure editor (web.editor), mounted under /edit/ by web.urls."""

from django.urls import URLPattern, path

from web import editor

urlpatterns: list[URLPattern] = [
    path("journeys/", editor.journey_create, name="editor-journey-create"),
    path("journeys/<id:journey_id>/archived/", editor.archived, name="editor-archived"),
    path("journeys/<id:journey_id>/stages/", editor.stage_create, name="editor-stage-create"),
    path("stages/<id:stage_id>/", editor.stage_update, name="editor-stage-update"),
    path("stages/<id:stage_id>/move/", editor.stage_move, name="editor-stage-move"),
    path("stages/<id:stage_id>/archive/", editor.stage_archive, name="editor-stage-archive"),
    path("stages/<id:stage_id>/restore/", editor.stage_restore, name="editor-stage-restore"),
    path(
        "stages/<id:stage_id>/touch-points/",
        editor.touch_point_create,
        name="editor-touch-point-create",
    ),
    path("touch-points/<id:touch_point_id>/", editor.touch_point_edit, name="editor-touch-point"),
    path(
        "touch-points/<id:touch_point_id>/move/",
        editor.touch_point_move,
        name="editor-touch-point-move",
    ),
    path(
        "touch-points/<id:touch_point_id>/archive/",
        editor.touch_point_archive,
        name="editor-touch-point-archive",
    ),
    path(
        "touch-points/<id:touch_point_id>/restore/",
        editor.touch_point_restore,
        name="editor-touch-point-restore",
    ),
    path("touch-points/<id:touch_point_id>/criteria/", editor.criteria, name="editor-criteria"),
    path("criteria/<id:criterion_id>/", editor.criterion_update, name="editor-criterion"),
    path("criteria/<id:criterion_id>/move/", editor.criterion_move, name="editor-criterion-move"),
    path(
        "criteria/<id:criterion_id>/archive/",
        editor.criterion_archive,
        name="editor-criterion-archive",
    ),
    path(
        "criteria/<id:criterion_id>/restore/",
        editor.criterion_restore,
        name="editor-criterion-restore",
    ),
]
