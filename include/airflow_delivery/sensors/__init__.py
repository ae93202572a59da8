"""Sensors: wait inside a run for something outside Airflow (a registry tag, ...)."""
