from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aoai_portal.auth.services import api_token_create
from aoai_portal.roles import ALL_ROLES


class Command(BaseCommand):
    help = (
        "Create a personal API token for USERNAME and print it once (only its hash is stored). "
        "Send it as 'Authorization: Bearer <token>'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ALL_ROLES, help="Also make sure the user holds this role.")
        parser.add_argument("--days", type=int, default=90, help="Days until the token expires (default 90).")
        parser.add_argument("--name", default="API token", help="What the token is for, e.g. 'Power BI'.")

    def handle(
        self, *args: Any, username: str, role: str | None, days: int, name: str, **options: Any
    ) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}. Entra users appear after their first sign-in.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is deactivated.")
        if days < 1:
            raise CommandError("--days must be at least 1: every token expires.")
        if role:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        token, raw = api_token_create(user=user, name=name, days=days)
        self.stderr.write(
            f"Token {name!r} for {username} expires {token.expires:%Y-%m-%d %H:%M} UTC. It is shown only now:"
        )
        self.stdout.write(raw)
