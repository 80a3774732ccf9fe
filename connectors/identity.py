"""Who a widget customer is, as the shop's own site says: its logged-in customer's id, name,
e-mail and phone, signed by the shop's server with the desk's identity secret
(``BALCAO_IDENTITY_SECRET``), so a visitor cannot claim to be someone else (Chatwoot's
``identifier_hash``, Intercom's ``user_hash``).

The signature is HMAC-SHA256, in lowercase hex, of the *canonical string*: the four fields in this
order, each after ``field=``, joined by line feeds (an absent field is empty)::

    id=<id>\\nname=<name>\\nemail=<email>\\nphone=<phone>

No field may hold a line feed or another control character, so the string reads one way only.
The customer id an identity gets is derived from the shop's id alone: the same customer, on any
browser, finds the same conversations (docs/identity.md)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pydantic import BaseModel, Field, field_validator

from core.security import hmac_sha256_hex, same_secret

__all__ = [
    "IDENTIFIED_PREFIX",
    "CustomerIdentity",
    "IdentityIn",
    "IdentityRefused",
    "canonical",
    "identified_customer_id",
    "sign_identity",
    "verify_identity",
]

IDENTIFIED_PREFIX = "w-id-"  # widget customers the shop identified; anonymous ones are "w-<uuid hex>"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class IdentityRefused(ValueError):
    """An identity whose signature is missing or does not match: nothing of it is stored."""


@dataclass(frozen=True)
class CustomerIdentity:
    """A shop's logged-in customer, as its server signed it."""

    id: str
    name: str = ""
    email: str = ""
    phone: str = ""


class IdentityIn(BaseModel):
    """The identity a shop's page hands the widget (``data-customer-*`` or ``Balcao.identify``)."""

    id: str = Field(min_length=1, max_length=120, description="the shop's own id of its logged-in customer")
    name: str = Field("", max_length=120)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=40)

    @field_validator("id", "name", "email", "phone")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("no line feeds or other control characters (the signed string is one field per line)")
        return value

    def identity(self) -> CustomerIdentity:
        """The identity as the desk keeps it."""
        return CustomerIdentity(id=self.id, name=self.name, email=self.email, phone=self.phone)


def canonical(identity: CustomerIdentity) -> str:
    """The string the shop's server signs (see the module's docstring)."""
    return f"id={identity.id}\nname={identity.name}\nemail={identity.email}\nphone={identity.phone}"


def sign_identity(secret: str, identity: CustomerIdentity) -> str:
    """The signature of ``identity`` with ``secret``: what the shop's server computes."""
    return hmac_sha256_hex(secret, canonical(identity))


def verify_identity(secret: str, identity: CustomerIdentity, signature: str | None) -> CustomerIdentity:
    """``identity`` when ``signature`` is its signature with ``secret`` (compared in constant
    time); ``IdentityRefused`` otherwise, saying what to fix."""
    if not secret:  # an empty key would let anyone sign
        raise IdentityRefused("this desk has no identity secret (BALCAO_IDENTITY_SECRET): identities are refused")
    if not signature:
        raise IdentityRefused("the customer's identity has no signature: sign it on the shop's server (docs/identity.md)")
    given = signature.strip().lower()
    if not _HEX.match(given) or not same_secret(given, sign_identity(secret, identity)):
        raise IdentityRefused(
            "the customer's identity is not signed with this desk's identity secret: "
            "sign id, name, e-mail and phone as docs/identity.md shows"
        )
    return identity


def identified_customer_id(identity: CustomerIdentity) -> str:
    """The widget customer id of the shop's customer ``identity.id``: the same on every visit."""
    return IDENTIFIED_PREFIX + hashlib.sha256(identity.id.encode()).hexdigest()[:40]
