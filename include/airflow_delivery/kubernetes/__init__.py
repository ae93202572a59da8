"""Kubernetes manifest logic without Airflow and without the Kubernetes client.

Parsing and validating manifests, artifact binding, versioned names, rollout stability and the Bake
renderers are pure functions over plain ``dict`` manifests (the API's JSON shape), so the operators,
the triggers, the sandbox and the tests share one definition of each rule and can test it without a
cluster. Modules: ``manifests``, ``artifacts``, ``versioning``, ``stability``, ``render``.
"""
