"""What a customer typed, made safe to give Rasa as text.

Rasa 3.6 parses a message whose text, after ``str.strip()``, starts with ``/`` as a hard-coded
prediction: ``/intent@confidence{"entity": "value"}`` (``RegexMessageHandler`` →
``YAMLStoryReader.unpack_regex_message``). A customer must never choose an intent or entities
that way — only the buttons the bot offered carry payloads — so typed text goes through
``text_for_the_bot`` before Rasa sees it.
"""

from __future__ import annotations

import re
import unicodedata

INTENT_PREFIX = "/"  # rasa.shared.constants.INTENT_MESSAGE_PREFIX
# What Rasa would read as a command at the start of a text: its slashes, the intent name, a
# confidence and the entities as JSON (Rasa takes ``{.+}`` up to the line's last brace).
_COMMAND = re.compile(r"/+[^\s{@/]*(?:@[0-9.]*)?(?:\{.*\})?")


def _invisible(char: str) -> bool:
    """Format characters (zero-width space, joiners, direction marks, BOM), surrogates and
    control characters other than whitespace: nothing a person reads, so nothing the bot needs."""
    category = unicodedata.category(char)
    return category in ("Cf", "Cs") or (category == "Cc" and not char.isspace())


def text_for_the_bot(typed: str) -> str:
    """The customer's text as Rasa should receive it: read as words, never as a command.

    NFKC-normalised (full-width ``／`` becomes ``/``, so look-alikes are caught as what they are),
    without invisible characters, and without a leading command in Rasa's syntax
    (``/complaint``, ``/end_conversation{"ending": "agent_closed"}``, ``//greet@1.0``): the
    command is dropped, not just its slash, because the bare word would still be classified as
    the intent it names ("complaint" is a complaint to the NLU). The words after it are kept
    ("/x quero falar com atendente" reads "quero falar com atendente"). Nothing left over can
    start with ``/`` once Rasa strips it. May be empty (the customer typed only a command,
    slashes or invisible characters). The text stored and shown to agents stays as typed.
    """
    visible = "".join(char for char in typed if not _invisible(char))
    text = unicodedata.normalize("NFKC", visible).strip()
    while text.startswith(INTENT_PREFIX):
        command = _COMMAND.match(text)  # always matches a text that starts with "/"
        text = text[command.end() if command else 1 :].strip()
    return text
