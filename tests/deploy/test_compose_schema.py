"""docker-compose.yml is a valid Compose file: checked against the Compose Specification's JSON
schema, without a Docker engine.

The schema is vendored beside this test (``compose-spec.schema.json``, Apache-2.0), pinned to
https://raw.githubusercontent.com/compose-spec/compose-spec/a08f8d51631b7127ddac3d2c65537db429d0f1d0/schema/compose-spec.json
(the commit that last changed it). To move to a newer schema, download it from that repository's
``schema/compose-spec.json`` at a newer commit and update the URL and ``SCHEMA_SHA256`` here.
"""

import copy
import hashlib
from pathlib import Path

import jsonschema
import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCHEMA_PATH = HERE / "compose-spec.schema.json"
SCHEMA_SHA256 = "1f91e091f16b2dd50ab8860e02bb391d22df553d91c145eacedb1b6eff9c3f0e"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    raw = SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored schema is not the pinned one"
    schema = yaml.safe_load(raw)  # JSON is YAML
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _errors(validator: jsonschema.Draft7Validator, document: dict) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def test_the_compose_file_follows_the_compose_specification(validator, compose):
    assert _errors(validator, compose) == []
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(compose["services"])


def test_the_schema_check_catches_a_misspelt_or_mistyped_key(validator, compose):
    misspelt = copy.deepcopy(compose)
    misspelt["services"]["web"]["healtcheck"] = misspelt["services"]["web"].get("healthcheck", {})
    assert any("healtcheck" in error for error in _errors(validator, misspelt))

    mistyped = copy.deepcopy(compose)
    mistyped["services"]["worker"]["depends_on"] = "postgres"
    assert any(error.startswith("services/worker/depends_on") for error in _errors(validator, mistyped))
