"""`manage.py bootstrap_organization "<name>" --manager <email>`: a self-hoster's first
organization and its first manager, without the demo and without the admin."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import Role, User
from accounts.services import add_member, create_organization
from core.text import text_argument


class Command(BaseCommand):
    help = (
        "Create an organization and its first manager. A new manager's password comes from "
        "--password or is asked for twice; an existing user keeps their password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "name",
            type=text_argument(max_length=200),
            help="The organization's name, e.g. 'Northwind Broadband'.",
        )
        parser.add_argument(
            "--manager",
            required=True,
            metavar="EMAIL",
            type=text_argument(max_length=254),
            help="Email of the first manager.",
        )
        parser.add_argument(
            "--password",
            type=text_argument(max_length=4096),
            help=(
                "Password for a new manager (visible in the shell history and process list; "
                "leave it out to be asked instead). Ignored for an existing user."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("The organization needs a name.")
        email = User.objects.normalize_email(options["manager"].strip()).lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{options['manager']!r} is not a valid email address.") from None

        user = User.objects.filter(email=email).first()
        password = None
        if user is None:
            password = options["password"]
            if password is None:
                password = self._ask_password()
            try:
                validate_password(password, user=User(email=email))
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        elif options["password"] is not None:
            self.stderr.write(f"{email} already has an account; --password is ignored.")

        try:
            with transaction.atomic():
                organization = create_organization(name=name)
                add_member(
                    organization=organization, email=email, role=Role.MANAGER, password=password
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

        who = "new user" if user is None else "existing user, password unchanged"
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organization {organization.name!r} (slug {organization.slug!r}) "
                f"with manager {email} ({who})."
            )
        )

    def _ask_password(self) -> str:
        try:
            first = getpass.getpass("Password for the new manager: ")
            second = getpass.getpass("Password (again): ")
        except EOFError:
            raise CommandError(
                "No password given: pass --password, or run the command in a terminal."
            ) from None
        if first != second:
            raise CommandError("The two passwords do not match; nothing was created.")
        if not first:
            raise CommandError("The password must not be empty; nothing was created.")
        return first
