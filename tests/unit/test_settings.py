"""Settings: the environment variables' names, defaults and checks, and nothing read behind a caller's back."""

from __future__ import annotations

import pytest

from frontdesk.settings import DEV_SECRET_KEY, Settings


def test_an_empty_environment_gets_the_documented_defaults():
    s = Settings.from_env({})
    assert (s.database_url, s.redis_url, s.port, s.web_concurrency, s.log_format, s.secret_key) == (
        "", "", 8080, 1, "json", DEV_SECRET_KEY)
    assert (s.db_pool_size, s.db_max_overflow, s.sms_backend, s.sms_log_path) == (10, 10, "console", ".data/sms.jsonl")
    assert (s.twilio_account_sid, s.twilio_auth_token, s.twilio_from_number, s.twilio_api_base, s.public_url) == (
        "", "", "", "", "")
    assert (s.worker_processes, s.worker_threads, s.worker_idle_ms, s.queue_namespace) == (2, 4, 100, "dramatiq")
    assert (s.vapi_base_url, s.vapi_api_key) == ("https://api.vapi.ai", "")
    assert s.web_event_loop == "uvloop"
    assert s.environ == {}


def test_each_variable_sets_its_setting():
    env = {"DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r/1", "PORT": "9000", "WEB_CONCURRENCY": "3",
           "WEB_EVENT_LOOP": "AsyncIO",
           "LOG_FORMAT": "Console", "SECRET_KEY": "k" * 32, "DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "0",
           "SMS_BACKEND": "TWILIO", "SMS_LOG_PATH": "/tmp/sms.jsonl", "TWILIO_ACCOUNT_SID": "AC1",
           "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM_NUMBER": "+15557010100", "TWILIO_API_BASE": "http://127.0.0.1:1",
           "PUBLIC_URL": "https://frontdesk.example/", "WORKER_PROCESSES": "4", "WORKER_THREADS": "8",
           "WORKER_IDLE_MS": "50", "QUEUE_NAMESPACE": "test-1", "CLINIC_SECRET": "e" * 20,
           "VAPI_BASE_URL": "http://127.0.0.1:2/", "VAPI_API_KEY": "vapi-key-1", "ADMIN_TOKEN": "admin-tok-1", "TEXT_RETRIES": "3",
           "METRICS_TOKEN": "metrics-tok-1", "PROMETHEUS_MULTIPROC_DIR": "/tmp/fd-metrics"}
    s = Settings.from_env(env)
    assert s.model_dump() == {
        "database_url": "postgresql://db/x", "redis_url": "redis://r/1", "port": 9000, "web_concurrency": 3,
        "web_event_loop": "asyncio",
        "log_format": "console", "secret_key": "k" * 32, "db_pool_size": 20, "db_max_overflow": 0,
        "sms_backend": "twilio", "sms_log_path": "/tmp/sms.jsonl", "twilio_account_sid": "AC1",
        "twilio_auth_token": "tok", "twilio_from_number": "+15557010100", "twilio_api_base": "http://127.0.0.1:1",
        "public_url": "https://frontdesk.example", "worker_processes": 4, "worker_threads": 8,
        "worker_idle_ms": 50, "queue_namespace": "test-1", "vapi_base_url": "http://127.0.0.1:2",
        "vapi_api_key": "vapi-key-1", "text_retries": 3, "admin_token": "admin-tok-1", "metrics_token": "metrics-tok-1",
        "prometheus_multiproc_dir": "/tmp/fd-metrics"}
    assert s.environ == env  # the whole environment, for the secrets tenant files name
    assert "tok" not in repr(s) and "k" * 32 not in repr(s) and "vapi-key-1" not in repr(s)
    assert "admin-tok-1" not in repr(s) and "metrics-tok-1" not in repr(s)


def test_an_empty_variable_counts_as_unset():
    s = Settings.from_env({"PORT": "", "SECRET_KEY": "", "LOG_FORMAT": ""})
    assert (s.port, s.secret_key, s.log_format) == (8080, DEV_SECRET_KEY, "json")


def test_a_given_environment_is_the_only_one_read(monkeypatch):
    monkeypatch.setenv("PORT", "9999")
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-the-process/db")
    assert (Settings.from_env({}).port, Settings.from_env({}).database_url) == (8080, "")
    assert Settings().port == 8080  # built in code: just what it is given
    assert (Settings.from_env().port, Settings.from_env().environ["PORT"]) == (9999, "9999")


@pytest.mark.parametrize("env, message", [
    ({"PORT": "abc"}, "PORT must be a whole number, got 'abc'"),
    ({"WORKER_THREADS": "2.5"}, "WORKER_THREADS must be a whole number, got '2.5'"),
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be at least 1, got '0'"),
    ({"PORT": "70000"}, "PORT must be at most 65535, got '70000'"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be 'json' or 'console', got 'xml'"),
    ({"SMS_BACKEND": "sns"}, "SMS_BACKEND must be 'console' or 'twilio', got 'sns'"),
])
def test_a_bad_value_exits_with_one_line_naming_its_variable(env, message):
    with pytest.raises(SystemExit) as e:
        Settings.from_env(env)
    assert str(e.value) == message


def test_every_bad_value_is_named_at_once():
    with pytest.raises(SystemExit) as e:
        Settings.from_env({"PORT": "abc", "SMS_BACKEND": "sns"})
    assert str(e.value) == ("PORT must be a whole number, got 'abc'; "
                            "SMS_BACKEND must be 'console' or 'twilio', got 'sns'")
