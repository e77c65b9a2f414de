# The ravao image: every service of docker-compose.yml runs a `ravao` sub-command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY pipeline pipeline
COPY producers producers
COPY dashboards dashboards
COPY deploy deploy
COPY sql sql
COPY bench bench
# Editable: the SQL files and the Kafka pom are read from /app at run time.
RUN pip install --no-cache-dir -e .
USER nobody
ENTRYPOINT ["ravao"]
