# aliasdesk: one image for the gateway, the workers and the admin commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN useradd --create-home --uid 10001 aliasdesk

COPY pyproject.toml README.md ./
COPY aliasdesk ./aliasdesk
COPY gateway ./gateway
COPY worker ./worker
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir .

USER aliasdesk
ENTRYPOINT ["aliasdesk"]
CMD ["run"]
