"""The few sentences the hub itself says to customers (when Rasa cannot be asked)."""

from __future__ import annotations

from datetime import datetime

_TEXTS = {
    "bot_failure": {
        "pt-BR": "Desculpe, nosso assistente está com problemas agora. Vou te passar para uma pessoa.",
        "pt-PT": "Desculpe, o nosso assistente está com problemas. Vou passá-lo a uma pessoa.",
        "en": "Sorry, our assistant is having trouble right now. I'm passing you to a person.",
    },
    "bot_busy": {
        "pt-BR": "Desculpe a demora: estamos com muita procura agora. Vou te passar para uma pessoa, que já vê sua mensagem.",
        "pt-PT": "Desculpe a demora: estamos com muita procura neste momento. Vou passá-lo a uma pessoa, que já vê a sua mensagem.",
        "en": "Sorry for the wait: we are very busy right now. I'm passing you to a person, who can already see your message.",
    },
    "too_long": {
        "pt-BR": "Sua mensagem passou de {limit} caracteres e não foi enviada. Pode dividir em partes menores?",
        "pt-PT": "A sua mensagem tem mais de {limit} caracteres e não foi enviada. Pode dividi-la em partes?",
        "en": "Your message is longer than {limit} characters and was not sent. Could you split it up?",
    },
    "greeting": {
        "pt-BR": "Oi! Sou o assistente virtual da {company}. Como posso ajudar? Escreva sua pergunta ou peça para falar com uma pessoa.",
        "pt-PT": "Olá! Sou o assistente virtual da {company}. Em que posso ajudar? Escreva a sua pergunta ou peça para falar com uma pessoa.",
        "en": "Hi! I'm the {company} virtual assistant. How can I help? Type your question, or ask to talk to a person.",
    },
    "greeting_named": {
        "pt-BR": "Oi! Sou {bot}, assistente virtual da {company}. Como posso ajudar? Escreva sua pergunta ou peça para falar com uma pessoa.",
        "pt-PT": "Olá! Sou {bot}, assistente virtual da {company}. Em que posso ajudar? Escreva a sua pergunta ou peça para falar com uma pessoa.",
        "en": "Hi! I'm {bot}, the {company} virtual assistant. How can I help? Type your question, or ask to talk to a person.",
    },
    "hello": {
        "pt-BR": "Oi! Sou o assistente da {company}. Como posso ajudar? Escreva sua pergunta ou peça para falar com uma pessoa.",
        "pt-PT": "Olá! Sou o assistente da {company}. Em que posso ajudar? Escreva a sua pergunta ou peça para falar com uma pessoa.",
        "en": "Hi! I'm the {company} assistant. How can I help? Type your question, or ask to talk to a person.",
    },
    "hello_named": {
        "pt-BR": "Oi! Sou {bot}, assistente da {company}. Como posso ajudar? Escreva sua pergunta ou peça para falar com uma pessoa.",
        "pt-PT": "Olá! Sou {bot}, assistente da {company}. Em que posso ajudar? Escreva a sua pergunta ou peça para falar com uma pessoa.",
        "en": "Hi! I'm {bot}, the {company} assistant. How can I help? Type your question, or ask to talk to a person.",
    },
    "queued": {
        "pt-BR": "Você é o {position}º da fila. Espera estimada: cerca de {minutes} min.",
        "pt-PT": "É o {position}.º na fila. Espera estimada: cerca de {minutes} min.",
        "en": "You are number {position} in the queue. Estimated wait: about {minutes} min.",
    },
    "team_closed": {
        "pt-BR": "Nosso atendimento humano está fechado agora. Uma pessoa responde a partir de {when}; "
        "sua conversa fica na fila e você pode deixar sua mensagem aqui.",
        "pt-PT": "O nosso atendimento está fechado neste momento. Uma pessoa responde a partir de {when}; "
        "a sua conversa fica na fila e pode deixar a sua mensagem aqui.",
        "en": "Our team is closed right now. A person will answer from {when}; your chat stays in the queue "
        "and you can leave your message here.",
    },
    "claim_returned": {
        "pt-BR": "Desculpe a demora. Sua conversa voltou para o início da fila e a próxima pessoa disponível vai te responder.",
        "pt-PT": "Pedimos desculpa pela demora. A sua conversa voltou ao início da fila e a próxima pessoa disponível vai responder-lhe.",
        "en": "Sorry for the wait. Your chat is back at the front of the queue and the next available person will answer you.",
    },
    "attachment": {
        "pt-BR": "Recebi seu arquivo, mas eu só consigo ler texto. Descreva sua dúvida em palavras, ou peça para falar com uma pessoa.",
        "pt-PT": "Recebi o seu ficheiro, mas só consigo ler texto. Descreva a sua dúvida por palavras, ou peça para falar com uma pessoa.",
        "en": "I got your file, but I can only read text. Please describe your question in words, or ask for a person.",
    },
    "empty": {
        "pt-BR": "Sua mensagem está vazia. Escreva sua pergunta, por favor.",
        "pt-PT": "A sua mensagem está vazia. Escreva a sua pergunta, por favor.",
        "en": "Your message is empty. Please type your question.",
    },
}


def say(key: str, lang: str, *, overrides: dict[str, str] | None = None, **values: object) -> str:
    """The sentence ``key`` in ``lang`` (Portuguese when the language is unknown); ``overrides``
    are the desk's own wording per language (settings), used where given."""
    own = (overrides or {}).get(lang)
    if own:  # the desk's wording: only the named values are filled in (a stray brace stays as typed)
        for name, value in values.items():
            own = own.replace("{" + name + "}", str(value))
        return own
    texts = _TEXTS[key]
    return texts.get(lang, texts["pt-BR"]).format(**values)


def widget_texts(
    lang: str, *, company: str, max_chars: int, greeting: dict[str, str] | None = None, bot: str = ""
) -> dict[str, str]:
    """What the widget says in ``lang`` that the desk words: its greeting (naming the bot when it
    has a name; ``{company}`` and ``{bot}`` are filled in), and the sentence for a message over the
    length limit (the widget refuses it before sending, with this sentence)."""
    return {
        "greeting": say("greeting_named" if bot else "greeting", lang, overrides=greeting, company=company, bot=bot),
        "too_long": say("too_long", lang, limit=max_chars),
    }


_WEEKDAYS = {
    "pt-BR": ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"),
    "pt-PT": ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def when(moment: datetime, lang: str) -> str:
    """A local opening time as a customer reads it: "segunda-feira, 30/11, às 08:00"."""
    day = _WEEKDAYS.get(lang, _WEEKDAYS["pt-BR"])[moment.weekday()]
    if lang == "en":
        return f"{day} {moment:%d %b} at {moment:%H:%M}"
    return f"{day}, {moment:%d/%m}, às {moment:%H:%M}"
