"""The company's-words page's words (``/admin/settings``), in pt-BR, pt-PT and English; merged into
``handoff.admin_texts.TEXTS`` so the admin header and the refusals find them."""

from __future__ import annotations

_PT_BR = {
    "words_title": "Palavras da empresa",
    "words_intro": "O que clientes leem no widget e o que o bot diz. Vale na hora, sem reiniciar.",
    "words_company_name": "Nome da empresa",
    "words_bot_name": "Nome do bot",
    "words_widget_color": "Cor do widget",
    "words_color_hint": "no formato #RRGGBB, por exemplo #0b6e4f; vazio: a cor que a página da loja der",
    "words_languages": "Idiomas oferecidos aos clientes",
    "words_greeting": "Saudação do widget",
    "words_out_of_hours": "Aviso fora do horário",
    "words_survey_question": "Pergunta da pesquisa (0 a 10)",
    "words_survey_reason_question": "Pergunta do motivo da nota",
    "words_wording_hint": "Vazio: o texto padrão. {company} vira o nome da empresa, {bot} o do bot e, no aviso fora do horário, {when} quando o time abre.",
    "words_default": "padrão",
    "words_save": "Salvar",
    "words_saved": "Palavras da empresa salvas: clientes já veem as novas.",
    "words_too_long": "«{field}» passa de {limit} caracteres; encurte o texto.",
    "bad_colour": "«{colour}» não é uma cor: use #RRGGBB, por exemplo #0b6e4f.",
    "unknown_language": "o balcão não fala {language}; escolha entre os idiomas da lista.",
    "no_language": "ofereça pelo menos um idioma.",
    "bad_wording": "«{field}» precisa de um texto por idioma.",
    "unknown_setting": "não existe a configuração «{field}».",
}
_PT_PT = {
    **_PT_BR,
    "words_intro": "O que os clientes leem no widget e o que o bot diz. Aplica-se de imediato, sem reiniciar.",
    "words_color_hint": "no formato #RRGGBB, por exemplo #0b6e4f; vazio: a cor que a página da loja indicar",
    "words_wording_hint": "Vazio: o texto predefinido. {company} passa a ser o nome da empresa, {bot} o do bot e, no aviso fora do horário, {when} quando a equipa abre.",
    "words_default": "predefinido",
    "words_save": "Guardar",
    "words_saved": "Palavras da empresa guardadas: os clientes já veem as novas.",
    "unknown_language": "o balcão não fala {language}; escolha entre os idiomas da lista.",
}
_EN = {
    "words_title": "Company's words",
    "words_intro": "What customers read in the widget and what the bot says. Applies at once, no restart.",
    "words_company_name": "Company name",
    "words_bot_name": "Bot's name",
    "words_widget_color": "Widget colour",
    "words_color_hint": "as #RRGGBB, e.g. #0b6e4f; empty: the colour the shop's page gives",
    "words_languages": "Languages offered to customers",
    "words_greeting": "Widget greeting",
    "words_out_of_hours": "Out-of-hours notice",
    "words_survey_question": "Survey question (0 to 10)",
    "words_survey_reason_question": "Question about the score's reason",
    "words_wording_hint": "Empty: the built-in wording. {company} becomes the company's name, {bot} the bot's and, in the out-of-hours notice, {when} when the team opens.",
    "words_default": "built-in",
    "words_save": "Save",
    "words_saved": "Company's words saved: customers see the new ones now.",
    "words_too_long": "“{field}” is longer than {limit} characters; shorten it.",
    "bad_colour": "“{colour}” is not a colour: give it as #RRGGBB, e.g. #0b6e4f.",
    "unknown_language": "the desk does not speak {language}; choose among the languages listed.",
    "no_language": "offer at least one language.",
    "bad_wording": "“{field}” needs one text per language.",
    "unknown_setting": "there is no setting “{field}”.",
}
WORDS_TEXTS: dict[str, dict[str, str]] = {"pt-BR": _PT_BR, "pt-PT": _PT_PT, "en": _EN}
