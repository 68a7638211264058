# aliasdesk: one image for the gateway, the workers and the admin commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN useradd --create-home --uid 10001 aliasdesk

# setup.py copies templates/ and config/ into the installed package; /app/config stays
# only as the default place for the routing file (docker-compose mounts yours there).
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY aliasdesk ./aliasdesk
COPY gateway ./gateway
COPY worker ./worker
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir .

USER aliasdesk
ENTRYPOINT ["aliasdesk"]
CMD ["run"]
