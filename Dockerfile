# AOAI Portal: one image for web (gunicorn), worker (celery worker) and beat (celery beat).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    DJANGO_STATICFILES_STORAGE=whitenoise.storage.CompressedManifestStaticFilesStorage \
    TIKTOKEN_CACHE_DIR=/app/.cache/tiktoken

WORKDIR /app
# Every path a service writes through a named volume (docker-compose.yml) exists here, owned by
# portal: a fresh named volume copies the owner of its mount point, so beat can write its schedule.
RUN useradd --create-home --uid 10001 portal \
 && mkdir -p /beat \
 && chown portal:portal /beat

# Dependencies first, so that code changes reuse this layer.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY . .
# Static files (served by whitenoise) and the tokenizer files (from the bpe-openai wheel, never
# downloaded at run time) are prepared at build time.
RUN python manage.py collectstatic --noinput -v0 \
 && python manage.py shell -c "from usage.accounting.tokens import tiktoken_cache_seed; tiktoken_cache_seed()" \
 && chown -R portal:portal /app/.cache

USER portal
EXPOSE 8000
# /healthz answers "ok" when Django is up; the headers pass the HTTPS redirect and ALLOWED_HOSTS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD python -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost', 'X-Forwarded-Proto': 'https'}), timeout=4)"
CMD ["gunicorn", "aoai_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
