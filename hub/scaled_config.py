"""The files of the scaled setup (``hub.scaled``): HAProxy's configuration and Rasa's endpoints."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import yaml

from hub.settings import Settings

# What HAProxy waits for. A client's idle keep-alive connection is closed after CLIENT_IDLE; the hubs
# keep theirs longer (BALCAO_KEEP_ALIVE_S), and HAProxy drops its idle connections to them first, so
# neither side closes a connection the other is about to reuse. WebSockets idle up to TUNNEL (the
# widget and the console reconnect and resume after it).
HAPROXY_TEMPLATE = """\
# Written by `balcao run --replicas N` (hub/scaled_config.py) on each start: edit that, not this.
global
    maxconn 4096
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option forwardfor
    option redispatch
    retries 2
    retry-on conn-failure
    timeout connect 5s
    timeout client 65s
    timeout server 65s
    timeout http-request 15s
    timeout http-keep-alive 30s
    timeout tunnel 1h
    timeout client-fin 5s
    # A hub starved of CPU under load answers /healthz late, not never: only a refused connection or
    # three slow checks in a row take it out (a kill -9 is still seen within seconds).
    timeout check 10s

# Customers (widget, Telegram and Twilio webhooks) and staff: any hub serves any request.
frontend balcao
    bind {host}:{public_port}
    default_backend hubs

backend hubs
    balance roundrobin
    option httpchk GET /healthz
    http-response set-header X-Balcao-Replica %s
{hub_servers}

# The hubs' Rasa: any Rasa server answers any conversation (trackers in PostgreSQL, Redis locks).
frontend rasa
    bind 127.0.0.1:{rasa_port}
    timeout client 120s
    default_backend rasa_servers

backend rasa_servers
    balance leastconn
    timeout server 120s
{rasa_servers}
"""


def haproxy_config(host: str, public_port: int, hub_ports: list[int], rasa_port: int, rasa_ports: list[int]) -> str:
    """HAProxy's configuration: the public frontend to the hubs, a loopback one to the Rasa servers."""
    hubs = "\n".join(f"    server hub{n} 127.0.0.1:{p} check inter 3s fall 3 rise 1" for n, p in enumerate(hub_ports, 1))
    rasas = "\n".join(f"    server rasa{n} 127.0.0.1:{p} check inter 2s fall 2 rise 1" for n, p in enumerate(rasa_ports, 1))
    return HAPROXY_TEMPLATE.format(host=host, public_port=public_port, hub_servers=hubs, rasa_port=rasa_port, rasa_servers=rasas)


def rasa_tracker_database(settings: Settings) -> str:
    """The PostgreSQL database of Rasa's trackers: the hub's database's name with ``_rasa``
    (on the same server; Rasa creates it on first start)."""
    return (urlsplit(settings.database_url).path.lstrip("/") or "balcao") + "_rasa"


def rasa_endpoints(settings: Settings) -> str:
    """Rasa's endpoints for the scaled setup: the actions in the hubs (URL and token from the
    environment, as bot/endpoints.yml), trackers in PostgreSQL, conversation locks in Redis."""
    db = urlsplit(settings.database_url)
    redis = urlsplit(settings.redis_url)
    tracker: dict[str, object] = {
        "type": "SQL",
        "dialect": "postgresql",
        "url": db.hostname or "127.0.0.1",
        "port": db.port or 5432,
        "db": rasa_tracker_database(settings),
        "login_db": db.path.lstrip("/"),  # Rasa connects here to create its database when missing
        "username": unquote(db.username or "postgres"),
    }
    if db.password:
        tracker["password"] = unquote(db.password)
    lock: dict[str, object] = {
        "type": "redis",
        "url": redis.hostname or "127.0.0.1",
        "port": redis.port or 6379,
        "db": int(redis.path.lstrip("/") or 0),
        # Rasa takes a letters-and-digits prefix only (else its default, shared by every desk).
        "key_prefix": re.sub(r"[^A-Za-z0-9]", "", settings.redis_prefix) + "rasa",
    }
    if redis.password:
        lock["password"] = unquote(redis.password)
    endpoints = {
        "action_endpoint": {"url": "${BALCAO_ACTIONS_URL}", "token": "${BALCAO_ACTIONS_TOKEN}"},
        "tracker_store": tracker,
        "lock_store": lock,
    }
    header = "# Written by `balcao run --replicas N` (hub/scaled_config.py) on each start.\n"
    return header + yaml.safe_dump(endpoints, sort_keys=False)
