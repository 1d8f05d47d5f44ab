from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts import access_cache
        from accounts.models import ApiToken, Membership, Organization, User

        # Whatever changes what an API token reaches ends its cached resolution.
        for model in (ApiToken, Membership, Organization, User):
            post_save.connect(access_cache.on_change, sender=model, dispatch_uid=f"access-{model}")
            post_delete.connect(
                access_cache.on_change, sender=model, dispatch_uid=f"access-{model}"
            )
