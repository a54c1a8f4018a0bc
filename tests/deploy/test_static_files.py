"""Static files as the image serves them: hashed names (whitenoise's compressed manifest storage,
set by the Dockerfile), so browsers may keep them for good; the chart bundle among them."""

import re
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from whitenoise.middleware import WhiteNoiseMiddleware

DOCKERFILE = (Path(settings.BASE_DIR) / "Dockerfile").read_text()
MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_the_image_serves_static_files_under_hashed_names():
    assert f"DJANGO_STATICFILES_STORAGE={MANIFEST_STORAGE}" in DOCKERFILE
    assert "collectstatic --noinput" in DOCKERFILE


def test_collected_files_get_hashed_names_that_whitenoise_caches_for_good(tmp_path):
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
        from django.contrib.staticfiles.storage import staticfiles_storage

        url = staticfiles_storage.url("vendor/plotly-finance.min.js")
        assert re.fullmatch(r"/?static/vendor/plotly-finance\.min\.[0-9a-f]{12}\.js", url), url
        name = url.split("static/", 1)[1]
        assert (tmp_path / name).stat().st_size == (tmp_path / "vendor/plotly-finance.min.js").stat().st_size
        assert (tmp_path / f"{name}.gz").exists()  # served compressed to browsers that accept it
        # Served by whitenoise as the web container serves it: cached by browsers for good.
        middleware = WhiteNoiseMiddleware(lambda request: None)
        response = middleware(RequestFactory().get(url))
        assert response.status_code == 200
        assert "immutable" in response["Cache-Control"] and "max-age=315360000" in response["Cache-Control"]
