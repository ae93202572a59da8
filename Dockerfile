# Airflow Delivery on the official Airflow image, for docker-compose.yaml and Kubernetes deployments.
# Pinning apache-airflow while installing keeps pip from moving Airflow itself (the official advice).
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}
ARG AIRFLOW_VERSION

COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow-delivery/
COPY --chown=airflow:0 include /opt/airflow-delivery/include
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/airflow-delivery
