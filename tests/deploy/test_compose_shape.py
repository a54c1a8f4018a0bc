"""docker-compose.yml against the Dockerfile and the settings, without a Docker engine."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTINGS = (ROOT / "aoai_portal" / "settings.py").read_text()

# What production cannot start or work without (settings default them for a bare checkout only).
REQUIRED = {
    "DJANGO_SECRET_KEY",
    "DJANGO_SECURE",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "LOG_ANALYTICS_WORKSPACE_ID",
    "PORTAL_METRICS_TOKEN",
}
# Read by libraries, not by the settings module (azure-identity's DefaultAzureCredential).
READ_ELSEWHERE = {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"}


def _dockerfile_commands() -> str:
    return DOCKERFILE.replace("\\\n", " ")


def portal_services() -> dict[str, dict]:
    """The services running the portal's own image (as the Dockerfile's ``USER portal``)."""
    return {name: svc for name, svc in COMPOSE["services"].items() if "build" in svc}


def test_every_writable_named_volume_is_created_and_owned_by_portal():
    assert re.search(r"^USER portal$", DOCKERFILE, re.M)
    commands = _dockerfile_commands()
    named = set(COMPOSE.get("volumes") or {})
    checked = []
    for name, service in portal_services().items():
        for mount in service.get("volumes", []):
            source, target, *mode = (
                mount.split(":") if isinstance(mount, str) else (mount["source"], mount["target"])
            )
            if source not in named or mode == ["ro"]:
                continue
            assert re.search(rf"mkdir -p [^&]*{re.escape(target)}(\s|$)", commands), (
                f"{name}: the Dockerfile does not create {target}"
            )
            assert re.search(rf"chown (-R )?portal:portal [^&]*{re.escape(target)}(\s|$)", commands), (
                f"{name}: {target} is not owned by portal in the Dockerfile"
            )
            checked.append(target)
    assert "/beat" in checked


def test_beat_writes_its_schedule_inside_its_volume():
    beat = COMPOSE["services"]["beat"]
    schedule = next(arg.split("=", 1)[1] for arg in beat["command"] if arg.startswith("--schedule="))
    mounts = [m.split(":")[1] for m in beat["volumes"]]
    assert any(schedule.startswith(mount.rstrip("/") + "/") for mount in mounts)


def test_the_environment_has_every_required_variable_and_only_known_ones():
    for name, service in portal_services().items():
        env = service["environment"]
        missing = REQUIRED - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        unknown = {
            var for var in env if var not in READ_ELSEWHERE and not re.search(rf'env_\w+\("{var}"', SETTINGS)
        }
        assert not unknown, f"{name} sets variables the settings never read: {sorted(unknown)}"
