"""The few sentences the hub itself says to customers (when Rasa cannot be asked)."""

from __future__ import annotations

_TEXTS = {
    "bot_failure": {
        "pt-BR": "Desculpe, nosso assistente está com problemas agora. Vou te passar para uma pessoa.",
        "pt-PT": "Desculpe, o nosso assistente está com problemas. Vou passá-lo a uma pessoa.",
        "en": "Sorry, our assistant is having trouble right now. I'm passing you to a person.",
    },
    "too_long": {
        "pt-BR": "Sua mensagem passou de {limit} caracteres e não foi enviada. Pode dividir em partes menores?",
        "pt-PT": "A sua mensagem tem mais de {limit} caracteres e não foi enviada. Pode dividi-la em partes?",
        "en": "Your message is longer than {limit} characters and was not sent. Could you split it up?",
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


def say(key: str, lang: str, **values: object) -> str:
    """The sentence ``key`` in ``lang`` (Portuguese when the language is unknown)."""
    texts = _TEXTS[key]
    return texts.get(lang, texts["pt-BR"]).format(**values)
