# The one image behind the web, worker and beat containers of docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=portal.settings.production \
    WEB_CONCURRENCY=3

WORKDIR /app

# flite, a speech synthesiser, reads the CAPTCHA aloud: the settings offer the audio alternative
# wherever /usr/bin/flite exists.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends flite \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin portal

# Dependencies first, so that a code change does not reinstall them. pyproject.toml declares no
# packages: `pip install .` installs the dependencies, and the code runs from /app.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .

# Static files are collected into the image (whitenoise serves them, hashed and compressed).
# Settings refuse to load without real-looking secrets, so this step gets throwaway ones that
# exist only for the length of this RUN and are not kept in the image.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    ALLOWED_HOSTS=localhost SMS_BACKEND=twilio EMAIL_BACKEND=smtp \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown portal:portal /app/var

# The code stays owned by root: the portal user can read it, not change it.
USER portal

EXPOSE 8000

# WEB_CONCURRENCY sets the number of gunicorn workers; PORT the port it listens on.
CMD ["sh", "-c", "exec gunicorn portal.wsgi:application --bind 0.0.0.0:${PORT:-8000} --access-logfile - --worker-tmp-dir /dev/shm --timeout 30 --graceful-timeout 30"]
