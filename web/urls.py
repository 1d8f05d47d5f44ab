"""Browser routes (mounted at the site root by config.urls)."""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.forms import SignInForm
from web import (
    alerts_views,
    audit,
    benchmark,
    journey_settings,
    live,
    organization_settings,
    password_reset,
    reports,
    sites,
    team,
    views,
)

# Django's form views take PUT as another spelling of POST; these forms answer GET and POST.
FORM_METHODS = ["get", "post", "head", "options"]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("organization/", views.choose_organization, name="choose-organization"),
    path("journeys/<id:journey_id>/", views.journey_map, name="journey-map"),
    path("journeys/<id:journey_id>/map/", views.journey_map_body, name="journey-map-body"),
    path("journeys/<id:journey_id>/changed/", live.journey_changed, name="journey-changed"),
    path("journeys/<id:journey_id>/sites/", benchmark.journey_sites, name="journey-sites"),
    path("journeys/<id:journey_id>/sites.csv", reports.journey_sites_csv, name="journey-sites-csv"),
    path("journeys/<id:journey_id>/scores.csv", reports.journey_map_csv, name="journey-map-csv"),
    path("overview.csv", reports.overview_csv, name="overview-csv"),
    path("journeys/<id:journey_id>/report/", reports.journey_report, name="journey-report"),
    path(
        "journeys/<id:journey_id>/report.pdf",
        reports.journey_report_pdf,
        name="journey-report-pdf",
    ),
    path(
        "touch-points/<id:touch_point_id>/evaluations.csv",
        reports.touch_point_csv,
        name="touch-point-csv",
    ),
    path("journeys/<id:journey_id>/history/", audit.journey_history, name="journey-history"),
    path(
        "journeys/<id:journey_id>/settings/",
        journey_settings.journey_settings,
        name="journey-settings",
    ),
    path("activity/", audit.activity, name="activity"),
    path("touch-points/<id:touch_point_id>/", views.touch_point_detail, name="touch-point"),
    path("touch-points/<id:touch_point_id>/card/", views.touch_point_card, name="touch-point-card"),
    path(
        "touch-points/<id:touch_point_id>/scores/",
        views.touch_point_scores_part,
        name="touch-point-scores",
    ),
    path(
        "touch-points/<int:touch_point_id>/actions/",
        alerts_views.action_open,
        name="action-open",
    ),
    path("actions/<int:action_id>/done/", alerts_views.action_done, name="action-done"),
    path("notifications/", alerts_views.feed, name="alerts-feed"),
    path("notifications/read/", alerts_views.feed_read, name="alerts-read"),
    path("notifications/settings/", alerts_views.notification_settings, name="alerts-settings"),
    path("webhooks/", alerts_views.webhooks_page, name="alerts-webhooks"),
    path("webhooks/<int:endpoint_id>/", alerts_views.webhook_detail, name="alerts-webhook"),
    path("webhooks/<int:endpoint_id>/test/", alerts_views.webhook_test, name="alerts-webhook-test"),
    path(
        "webhooks/<int:endpoint_id>/toggle/",
        alerts_views.webhook_toggle,
        name="alerts-webhook-toggle",
    ),
    path(
        "webhooks/<int:endpoint_id>/delete/",
        alerts_views.webhook_delete,
        name="alerts-webhook-delete",
    ),
    path(
        "webhooks/deliveries/<int:delivery_id>/redeliver/",
        alerts_views.webhook_redeliver,
        name="alerts-redeliver",
    ),
    path("account/", views.account, name="account"),
    path("account/tokens/", views.token_create, name="token-create"),
    path("account/tokens/<id:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("sites/", sites.sites, name="sites"),
    path("sites/new/", sites.site_create, name="site-create"),
    path("sites/<id:site_id>/", sites.site_update, name="site-update"),
    path("sites/<id:site_id>/archive/", sites.site_archive, name="site-archive"),
    path("sites/<id:site_id>/restore/", sites.site_restore, name="site-restore"),
    path(
        "settings/",
        organization_settings.organization_settings,
        name="organization-settings",
    ),
    path("team/", team.team, name="team"),
    path("team/invite/", team.invite, name="team-invite"),
    path(
        "team/invitations/<id:invitation_id>/resend/",
        team.invitation_resend,
        name="team-invitation-resend",
    ),
    path(
        "team/invitations/<id:invitation_id>/revoke/",
        team.invitation_revoke,
        name="team-invitation-revoke",
    ),
    path("team/members/<id:membership_id>/role/", team.member_role, name="team-member-role"),
    path("team/members/<id:membership_id>/remove/", team.member_remove, name="team-member-remove"),
    path("team/join/<str:token>/", team.join, name="team-join"),
    path("evaluate/", include("web.evaluate_urls")),
    path("edit/", include("web.editor_urls")),
    path(
        "sign-in/",
        auth_views.LoginView.as_view(
            authentication_form=SignInForm,
            redirect_authenticated_user=True,
            http_method_names=FORM_METHODS,
        ),
        name="login",
    ),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "account/password/",
        never_cache(views.PasswordChange.as_view(http_method_names=FORM_METHODS)),
        name="password_change",
    ),
    path("password-reset/", password_reset.ResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        # Its dispatch answers a bad link before any method check: refuse PUT and the
        # like first.
        require_http_methods(["GET", "POST", "HEAD", "OPTIONS"])(
            password_reset.ResetConfirmView.as_view()
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
