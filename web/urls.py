"""Browser routes (mounted at the site root by config.urls)."""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.forms import SignInForm
from web import audit, journey_settings, password_reset, sites, team, views

# Django's form views take PUT as another spelling of POST; these forms answer GET and POST.
FORM_METHODS = ["get", "post", "head", "options"]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("organization/", views.choose_organization, name="choose-organization"),
    path("journeys/<id:journey_id>/", views.journey_map, name="journey-map"),
    path("journeys/<id:journey_id>/map/", views.journey_map_body, name="journey-map-body"),
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
    path("account/", views.account, name="account"),
    path("account/tokens/", views.token_create, name="token-create"),
    path("account/tokens/<id:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("sites/", sites.sites, name="sites"),
    path("sites/new/", sites.site_create, name="site-create"),
    path("sites/<id:site_id>/", sites.site_update, name="site-update"),
    path("sites/<id:site_id>/archive/", sites.site_archive, name="site-archive"),
    path("sites/<id:site_id>/restore/", sites.site_restore, name="site-restore"),
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
