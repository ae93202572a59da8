"""Traffic management for canaries and version switches, one module per mechanism.

``base`` (the ``TrafficRouter`` protocol, ``Weights``, ``HeaderRoute``, ``CookieRoute``, ``NopRouter``,
errors), ``service`` (Service selector: enable/disable a version), ``istio`` (VirtualService weights),
``nginx`` (NGINX Ingress canary annotations), ``gateway`` (Gateway API HTTPRoute weights) and
``registry`` (``make_router(type, client, options)``). Pure: no Airflow, no Kubernetes client; routers
act through the narrow ``ObjectClient`` that ``DeliveryKubernetesHook`` satisfies.
"""
