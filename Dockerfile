# The explainer's server: FastAPI under uvicorn, run as an unprivileged user.
# Build: docker build -t ff-explained .   Run: docker run -p 8000:8000 -e FF_WORKERS=2 ff-explained
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --gid 10001 explainer \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin explainer

WORKDIR /srv/explainer
# Dependencies first, from pyproject.toml alone: a code edit reuses this layer (only a change to
# pyproject.toml rebuilds it). Then the package itself, without dependencies: quick.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-compile -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY README.md ./
# The package carries its templates and static files (app/templates, app/static).
COPY app ./app
RUN pip install --no-compile --no-deps .

ENV FF_WORKERS=1 \
    FF_FORWARDED_ALLOW_IPS=*
# FF_FORWARDED_ALLOW_IPS=* trusts X-Forwarded-For/-Proto from any peer: right when the container
# is reachable only through the reverse proxy (the usual deployment); narrow it otherwise.

# Numeric, so Kubernetes' runAsNonRoot can verify it: user `explainer`.
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# `serve` turns uvicorn's proxy headers on and reads the worker count from FF_WORKERS.
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
