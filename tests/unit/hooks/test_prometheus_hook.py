"""PrometheusHook against local HTTP servers the tests run (the real Prometheus is in tests/integration).

Covered: reading the connection (extras with and without the ``extra__prometheus__`` prefix, URL forms,
bad fields, missing connection), auth headers actually sent, retries on 503/429 with ``Retry-After``,
giving up, per-request timeouts, Prometheus API errors, non-Prometheus answers, server down,
``test_connection``, the async path, and that secrets never reach messages or logs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow_delivery.hooks.prometheus import (
    PrometheusAuthError,
    PrometheusConfigError,
    PrometheusConnectionNotFoundError,
    PrometheusHook,
    PrometheusHTTPError,
    PrometheusQueryError,
    PrometheusUnavailableError,
    RetryPolicy,
)

from tests.fixtures.prometheus import (  # noqa: F401 - prometheus_connection is a fixture
    ScriptedPrometheusAPI,
    ScriptedResponse,
    matrix,
    prometheus_connection,
    success,
)
from tests.support import free_port

PASSWORD = "pw-Zq81-secret"
TOKEN = "tok-Hh42-secret"
T0 = 1_735_689_600
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)
OK_RANGE = matrix(({"__name__": "up", "pod": "a"}, [(T0, 1.0), (T0 + 60, 2.0)]))


def _hook(conn_id: str, policy: RetryPolicy = FAST) -> PrometheusHook:
    return PrometheusHook(prometheus_conn_id=conn_id, retry_policy=policy)


@pytest.fixture
def server_factory():
    servers: list[ScriptedPrometheusAPI] = []

    def make(*responses: ScriptedResponse) -> ScriptedPrometheusAPI:
        server = ScriptedPrometheusAPI(responses)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


# -- connection -----------------------------------------------------------------------------------


def test_reads_unprefixed_extras(prometheus_connection):
    conn_id = prometheus_connection(
        "prom_extras", "https://prom.example:9443/", bearer_token=TOKEN, verify_tls=False, timeout=7
    )
    config = _hook(conn_id).connection_config
    assert (config.base_url, config.bearer_token, config.verify_tls, config.timeout) == (
        "https://prom.example:9443",
        TOKEN,
        False,
        7.0,
    )


def test_reads_legacy_prefixed_extras(prometheus_connection):
    conn_id = prometheus_connection(
        "prom_legacy",
        "prom.example",
        **{"extra__prometheus__verify_tls": "false", "extra__prometheus__timeout": "2.5"},
    )
    config = _hook(conn_id).connection_config
    assert (config.base_url, config.verify_tls, config.timeout) == ("http://prom.example", False, 2.5)


def test_credentials_in_url_become_basic_auth_and_leave_the_url(prometheus_connection):
    conn_id = prometheus_connection("prom_userinfo", f"http://bob:{PASSWORD}@prom.example:9090")
    config = _hook(conn_id).connection_config
    assert config.base_url == "http://prom.example:9090"
    assert (config.login, config.password) == ("bob", PASSWORD)
    assert PASSWORD not in repr(config)


@pytest.mark.parametrize(
    ("host", "extra", "fragment"),
    [
        ("", {}, "has no host"),
        ("ftp://prom.example", {}, "http:// or https://"),
        ("http://prom.example", {"timeout": "soon"}, "'timeout' must be a positive number"),
        ("http://prom.example", {"timeout": 0}, "'timeout' must be a positive number"),
        ("http://prom.example", {"verify_tls": "maybe"}, "'verify_tls' must be true or false"),
    ],
)
def test_bad_connection_fields_name_the_connection(prometheus_connection, host, extra, fragment):
    conn_id = prometheus_connection("prom_bad", host, **extra)
    with pytest.raises(PrometheusConfigError, match=fragment) as info:
        _hook(conn_id).query("up")
    assert "'prom_bad'" in str(info.value)
    ok, message = _hook(conn_id).test_connection()
    assert not ok and "'prom_bad'" in message


def test_missing_connection_names_id_and_how_to_define_it():
    hook = _hook("prom_does_not_exist")
    with pytest.raises(PrometheusConnectionNotFoundError) as info:
        hook.query_range("up", T0, T0 + 60, 60)
    assert isinstance(info.value, AirflowNotFoundException)
    assert "'prom_does_not_exist'" in str(info.value)
    assert "AIRFLOW_CONN_PROM_DOES_NOT_EXIST" in str(info.value)
    ok, message = hook.test_connection()
    assert (ok, "'prom_does_not_exist'" in message) == (False, True)


def test_missing_connection_async():
    with pytest.raises(PrometheusConnectionNotFoundError, match="'prom_async_missing'"):
        asyncio.run(_hook("prom_async_missing").aquery_range("up", T0, T0 + 60, 60))


# -- requests, auth -------------------------------------------------------------------------------


def test_range_query_sends_form_and_parses_series(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(body=OK_RANGE))
    conn_id = prometheus_connection("prom_range", server.url)
    start = datetime.fromtimestamp(T0, UTC)
    series = _hook(conn_id).query_range("rate(x[1m])", start, T0 + 60, 60)
    assert [(dict(s.labels), s.samples) for s in series] == [
        ({"__name__": "up", "pod": "a"}, ((T0, 1.0), (T0 + 60, 2.0)))
    ]
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/api/v1/query_range")
    assert request.form == {
        "query": ["rate(x[1m])"],
        "start": [f"{T0}.000"],
        "end": [f"{T0 + 60}.000"],
        "step": ["60"],
    }


def test_special_values_are_parsed(prometheus_connection, server_factory):
    body = success(
        {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[T0, "NaN"], [T0 + 1, "+Inf"], [T0 + 2, "-Inf"]]}],
        }
    )
    server = server_factory(ScriptedResponse(body=body))
    values = [
        v
        for _, v in _hook(prometheus_connection("prom_nan", server.url))
        .query_range("x", T0, T0 + 2, 1)[0]
        .samples
    ]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]


def test_instant_query_vector_and_scalar(prometheus_connection, server_factory):
    server = server_factory(
        ScriptedResponse(
            body=success({"resultType": "vector", "result": [{"metric": {"a": "b"}, "value": [T0, "3"]}]})
        ),
        ScriptedResponse(body=success({"resultType": "scalar", "result": [T0, "4.5"]})),
    )
    hook = _hook(prometheus_connection("prom_instant", server.url))
    assert [(dict(s.labels), s.samples) for s in hook.query("x", at=T0)] == [({"a": "b"}, ((T0, 3.0),))]
    assert [s.samples for s in hook.query("scalar(x)")] == [((T0, 4.5),)]
    assert server.requests[0].form["time"] == [f"{T0}.000"] and "time" not in server.requests[1].form


def test_route_prefix_is_kept(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(body=OK_RANGE))
    _hook(prometheus_connection("prom_prefix", f"{server.url}/prometheus/")).query_range(
        "up", T0, T0 + 60, 60
    )
    assert server.requests[0].path == "/prometheus/api/v1/query_range"


def test_bearer_token_header_is_sent(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(body=OK_RANGE))
    conn_id = prometheus_connection("prom_bearer", server.url, bearer_token=TOKEN)
    _hook(conn_id).query_range("up", T0, T0 + 60, 60)
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_basic_auth_header_is_sent(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(body=OK_RANGE))
    conn_id = prometheus_connection("prom_basic", server.url, login="alice", password=PASSWORD)
    asyncio.run(_hook(conn_id).aquery_range("up", T0, T0 + 60, 60))
    expected = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert server.requests[0].headers["Authorization"] == f"Basic {expected}"


def test_no_auth_header_without_credentials(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(body=OK_RANGE))
    _hook(prometheus_connection("prom_anon", server.url)).query_range("up", T0, T0 + 60, 60)
    assert "Authorization" not in server.requests[0].headers


# -- retries and timeouts ------------------------------------------------------------------------


def test_retries_503_then_succeeds(prometheus_connection, server_factory, caplog, capsys):
    server = server_factory(
        ScriptedResponse(
            status=503, body={"status": "error", "errorType": "unavailable", "error": "starting"}
        ),
        ScriptedResponse(status=502, body="bad gateway"),
        ScriptedResponse(body=OK_RANGE),
    )
    with caplog.at_level(logging.WARNING):
        series = _hook(prometheus_connection("prom_flaky", server.url)).query_range("up", T0, T0 + 60, 60)
    assert len(series) == 1 and len(server.requests) == 3
    logged = caplog.text + capsys.readouterr().out  # Airflow's structlog may write to stdout
    assert "attempt 1/3" in logged and "HTTP 503: unavailable: starting" in logged


def test_429_honours_retry_after(prometheus_connection, server_factory):
    server = server_factory(
        ScriptedResponse(status=429, body="slow down", headers={"Retry-After": "1"}),
        ScriptedResponse(body=OK_RANGE),
    )
    _hook(prometheus_connection("prom_429", server.url)).query_range("up", T0, T0 + 60, 60)
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.9  # waited as told, not the 0.01 s backoff


def test_retry_after_longer_than_allowed_gives_up_at_once(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(status=429, body="later", headers={"Retry-After": "3600"}))
    with pytest.raises(PrometheusUnavailableError, match="asked to retry .* after 3600s"):
        _hook(prometheus_connection("prom_429_long", server.url)).query_range("up", T0, T0 + 60, 60)
    assert len(server.requests) == 1


def test_gives_up_after_attempts_naming_query_and_connection(prometheus_connection, server_factory):
    server = server_factory(
        ScriptedResponse(
            status=503, body={"status": "error", "errorType": "timeout", "error": "query timed out"}
        )
    )
    with pytest.raises(PrometheusUnavailableError) as info:
        _hook(prometheus_connection("prom_down_503", server.url)).query_range("sum(up)", T0, T0 + 60, 60)
    assert len(server.requests) == 3
    message = str(info.value)
    assert "'prom_down_503'" in message and "'sum(up)'" in message and "3 attempt(s)" in message
    assert "query timed out" in message


def test_request_timeout_is_retried_then_reported(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(body=OK_RANGE, delay=5))
    conn_id = prometheus_connection("prom_slow", server.url, timeout=0.3)
    hook = _hook(conn_id, RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(PrometheusUnavailableError, match=r"timed out after 0.3s") as info:
        hook.query_range("up", T0, T0 + 60, 60)
    assert len(server.requests) == 2 and "'prom_slow'" in str(info.value)


def test_server_down(prometheus_connection):
    conn_id = prometheus_connection("prom_nothing_there", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PrometheusUnavailableError, match="cannot connect") as info:
        _hook(conn_id).query("up")
    assert "'prom_nothing_there'" in str(info.value)
    ok, message = _hook(conn_id).test_connection()
    assert not ok and "cannot connect" in message


def test_async_retries(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(status=503, body="busy"), ScriptedResponse(body=OK_RANGE))
    series = asyncio.run(
        _hook(prometheus_connection("prom_async", server.url)).aquery_range("up", T0, T0 + 60, 60)
    )
    assert len(series) == 1 and len(server.requests) == 2


# -- permanent errors -----------------------------------------------------------------------------


def test_query_error_is_not_retried_and_names_query(prometheus_connection, server_factory):
    body = {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "}"'}
    server = server_factory(ScriptedResponse(status=400, body=body))
    with pytest.raises(PrometheusQueryError) as info:
        _hook(prometheus_connection("prom_bad_query", server.url)).query_range("up{", T0, T0 + 60, 60)
    error = info.value
    assert (error.error_type, error.query, error.conn_id) == ("bad_data", "up{", "prom_bad_query")
    assert "'up{'" in str(error) and "'prom_bad_query'" in str(error) and "parse error" in str(error)
    assert len(server.requests) == 1


def test_auth_refused(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(status=401, body="Unauthorized"))
    conn_id = prometheus_connection("prom_401", server.url, login="alice", password=PASSWORD)
    with pytest.raises(PrometheusAuthError, match="refused the credentials of connection 'prom_401'") as info:
        _hook(conn_id).query("up")
    assert info.value.status_code == 401 and len(server.requests) == 1


def test_not_prometheus(prometheus_connection, server_factory):
    server = server_factory(
        ScriptedResponse(status=404, body="404 page not found"), ScriptedResponse(body="<html>hello</html>")
    )
    hook = _hook(prometheus_connection("prom_wrong_url", server.url))
    with pytest.raises(PrometheusHTTPError, match="HTTP 404 .*route-prefix"):
        hook.query("up")
    with pytest.raises(PrometheusHTTPError, match="did not answer like the Prometheus HTTP API"):
        hook.query("up")


def test_bad_time_arguments(prometheus_connection):
    hook = _hook(prometheus_connection("prom_args", "http://127.0.0.1:9"))
    with pytest.raises(ValueError, match="timezone-aware"):
        hook.query_range("up", datetime(2025, 1, 1), T0, 60)
    with pytest.raises(ValueError, match="before start"):
        hook.query_range("up", T0 + 60, T0, 60)
    with pytest.raises(ValueError, match="step must be positive"):
        hook.query_range("up", T0, T0 + 60, 0)


# -- test_connection and secrets -----------------------------------------------------------------


def test_test_connection_calls_buildinfo(prometheus_connection, server_factory):
    server = server_factory(ScriptedResponse(body=success({"version": "2.42.0", "revision": "x"})))
    ok, message = _hook(prometheus_connection("prom_test_ok", server.url)).test_connection()
    assert ok and "2.42.0" in message and server.url in message
    assert (server.requests[0].method, server.requests[0].path) == ("GET", "/api/v1/status/buildinfo")


def test_secrets_never_in_messages_or_logs(prometheus_connection, server_factory, caplog, capsys):
    echo = {"status": "error", "errorType": "bad_data", "error": f"token {TOKEN} / pass {PASSWORD} rejected"}
    server = server_factory(
        ScriptedResponse(status=503, body=f"proxy saw Bearer {TOKEN}"),
        ScriptedResponse(status=400, body=echo),
    )
    conn_id = prometheus_connection(
        "prom_secret", server.url, login="alice", password=PASSWORD, bearer_token=TOKEN
    )
    hook = _hook(conn_id)
    with caplog.at_level(logging.DEBUG), pytest.raises(PrometheusQueryError) as info:
        hook.query("up")
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "attempt 1/3" in logged  # the retry warning was logged (and checked below)
    texts = [str(info.value), info.value.error, logged, repr(hook.connection_config)]
    for text in texts:
        assert TOKEN not in text and PASSWORD not in text
    assert "***" in str(info.value)
    ok, message = hook.test_connection()
    assert not ok and TOKEN not in message and PASSWORD not in message
