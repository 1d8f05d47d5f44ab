"""Browser routes (mounted at the site root by config.urls)."""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from web import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("organization/", views.choose_organization, name="choose-organization"),
    path("account/", views.account, name="account"),
    path("evaluate/", include("web.evaluate_urls")),
    path(
        "sign-in/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
