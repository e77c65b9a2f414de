# The ravao image: every service of docker-compose.yml runs a `ravao` sub-command.
FROM python:3.11-slim
# Installed as a package, not editable: the SQL and the Kafka pom travel inside it as package
# data, and the sources are removed once installed, so nothing reads them at run time.
COPY pyproject.toml README.md /src/
COPY schemas /src/schemas
COPY pipeline /src/pipeline
COPY producers /src/producers
COPY dashboards /src/dashboards
COPY sql /src/sql
COPY bench /src/bench
RUN pip install --no-cache-dir /src && rm -rf /src
WORKDIR /app
# The compose health checks run deploy/healthcheck.py (it imports the installed package).
COPY deploy deploy
USER nobody
ENTRYPOINT ["ravao"]
