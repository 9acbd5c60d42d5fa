# The API image for docker-compose: Python + GDAL client libraries + the project and its browser assets.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY pyproject.toml README.md alembic.ini ./
COPY api api
COPY gis gis
COPY estate_infra estate_infra
COPY seed seed
COPY migrations migrations
RUN pip install --no-cache-dir -e .
EXPOSE 8000
# migrate → seed → serve (the prestart sequence), against DATABASE_URL
CMD ["sh", "-c", "estate migrate && estate seed && estate serve --host 0.0.0.0 --port 8000"]
