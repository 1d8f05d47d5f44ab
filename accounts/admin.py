"""Admin for users, organizations, memberships and the audit log, plus the two admin
habits the other apps share: read-only facts, and audited saves of changed fields only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.access import signed_in_user
from accounts.forms import AdminSignInForm
from accounts.models import AuditEvent, Membership, Organization, User
from accounts.services import audit_changes, end_sessions, record_audit

# The admin's sign-in counts failures under the same identity as the site's (brute_force).
admin.site.login_form = AdminSignInForm

# The admin classes are generic only to the type checker (django-stubs); at run time they
# cannot be subscripted without django_stubs_ext, which is not a run-time dependency.
if TYPE_CHECKING:
    AnyModelAdmin = admin.ModelAdmin[Any]
    AnyTabularInline = admin.TabularInline[Any, Any]
    AnyUserAdmin = DjangoUserAdmin[Any]
else:
    AnyModelAdmin = admin.ModelAdmin
    AnyTabularInline = admin.TabularInline
    AnyUserAdmin = DjangoUserAdmin

# --- Shared by the apps' admins ------------------------------------------------------------


class ReadOnlyAdmin(AnyModelAdmin):
    """Facts and derived rows: support staff may look, never add, change or delete.

    With no change permission Django renders every field read-only and refuses a POST to
    the change, add or delete URL with 403.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyTabularInline(AnyTabularInline):
    """A list of child rows shown on the parent's page; `fields` are all read-only."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditedAdmin(AnyModelAdmin):
    """Saves only the fields the form changed and writes the audit row a service would.

    A full save would write back every column as it was read, including a position a
    concurrent reorder has since moved: `update_fields` leaves ordering to the services.
    The services themselves need a manager membership, which support staff don't have,
    so the admin records the audit row with the staff user as actor.
    """

    def save_model(
        self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool
    ) -> None:
        if not change:
            obj.save()
            record_audit(
                actor=signed_in_user(request),
                organization=obj.organization_id,
                action="create",
                obj=obj,
            )
            return
        names = {f.name for f in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in names]
        if not changed:
            return
        auto_now = [f.name for f in obj._meta.concrete_fields if getattr(f, "auto_now", False)]
        obj.save(update_fields=[*changed, *auto_now])
        record_audit(
            actor=signed_in_user(request),
            organization=obj.organization_id,
            action="update",
            obj=obj,
            changes=audit_changes(
                form.initial, {name: form.cleaned_data[name] for name in changed}
            ),
        )


# --- Users ---------------------------------------------------------------------------------


def _clean_unique_email(form: forms.ModelForm[Any], email: str) -> str:
    """Emails are stored lower-case (UserManager does so), and sign-in relies on it."""
    email = User.objects.normalize_email(email).lower()
    taken = User.objects.filter(email__iexact=email)
    if form.instance.pk is not None:
        taken = taken.exclude(pk=form.instance.pk)
    if taken.exists():
        raise forms.ValidationError("A user with this email address already exists.")
    return email


class UserCreationForm(BaseUserCreationForm):  # type: ignore[type-arg]
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return _clean_unique_email(self, self.cleaned_data["email"])


class UserEditForm(UserChangeForm):  # type: ignore[type-arg]
    class Meta:
        model = User
        fields = (
            "email",
            "password",
            "first_name",
            "last_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
            "last_login",
            "date_joined",
        )

    def clean_email(self) -> str:
        return _clean_unique_email(self, self.cleaned_data["email"])


class UserMembershipInline(AnyTabularInline):
    model = Membership
    fields = ("organization", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("organization",)
    extra = 0


@admin.register(User)
class UserAdmin(AnyUserAdmin):
    """Django's UserAdmin with the email as the sign-in name (there is no username)."""

    form = UserEditForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = (UserMembershipInline,)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active", "is_superuser")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        # Memberships are added once the user exists, like the rest of its options.
        return self.inlines if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            # Deactivated: sign them out everywhere now, not whenever their session expires.
            end_sessions(user=obj)


# --- Organizations -------------------------------------------------------------------------


class MembershipInline(AnyTabularInline):
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("user")


@admin.register(Organization)
class OrganizationAdmin(AnyModelAdmin):
    """Saving the scoring settings re-scores every journey: journeys.admin extends this
    class to route them through journeys.services.update_scoring_settings (this app sits
    below journeys and cannot call it)."""

    list_display = (
        "name",
        "slug",
        "default_target",
        "smoothing_k",
        "min_n",
        "window_days",
        "created_at",
    )
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "default_target", "created_at")}),
        (
            "Scoring settings",
            {
                "fields": ("smoothing_k", "min_n", "window_days"),
                "description": "Changing these marks every touch point of the organization "
                "stale; the workers then recompute its scores.",
            },
        ),
    )
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(AnyModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization")
    list_select_related = ("user", "organization")
    search_fields = ("user__email", "user__first_name", "user__last_name", "organization__name")
    autocomplete_fields = ("user", "organization")
    readonly_fields = ("created_at",)


# --- Audit log -----------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The append-only record of structure changes."""

    list_display = ("at", "organization", "actor", "action", "object_type", "object_repr")
    list_filter = ("action", "object_type", "organization")
    list_select_related = ("organization", "actor")
    search_fields = ("object_repr", "actor__email")
    date_hierarchy = "at"
    show_full_result_count = False
