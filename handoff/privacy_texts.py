"""The privacy page's words (``desk.privacy_pages``) in pt-BR, pt-PT and English, merged into
``handoff.admin_texts.TEXTS`` (the page is desk's; its words sit with the other admin pages')."""

from __future__ import annotations

_PT_BR = {
    "privacy_title": "Privacidade (LGPD)",
    "privacy_intro": "Encontre um cliente para ver os dados guardados sobre ele, baixá-los ou apagá-los a pedido dele. "
    "Cada exportação e exclusão fica no registro de auditoria.",
    "privacy_find": "Procurar cliente",
    "privacy_customer": "Telefone, e-mail, Telegram ou conversa",
    "privacy_customer_hint": "Um telefone como +5511987654321, um id do Telegram (tg-12345 ou @usuario), "
    "o e-mail ou id do cliente no site, ou o id de uma conversa.",
    "privacy_unknown": "Nenhum cliente ou conversa corresponde a “{query}”: procure por um telefone (+5511987654321), "
    "um id do Telegram (tg-12345 ou @usuario), o id do cliente no site ou o id de uma conversa.",
    "privacy_held": "Dados guardados, por canal",
    "privacy_channel": "Canal",
    "privacy_conversations": "Conversas",
    "privacy_messages": "Mensagens",
    "privacy_files": "Arquivos",
    "privacy_surveys": "Pesquisas",
    "privacy_records": "Cadastros do cliente nos canais",
    "privacy_name": "Nome",
    "privacy_address": "Endereço ou usuário",
    "privacy_export_title": "Exportar os dados",
    "privacy_export_hint": "Um arquivo zip com as conversas em todos os canais, as pesquisas e os arquivos enviados.",
    "privacy_export": "Baixar o arquivo zip",
    "privacy_erase_title": "Apagar os dados do cliente",
    "privacy_erase_hint": "A pedido do cliente: textos, nomes, telefones e arquivos são removidos; contagens, horários e notas ficam, "
    "para os números do painel não mudarem.",
    "privacy_erase": "Apagar os dados deste cliente…",
    "privacy_erase_warning": "Serão anonimizadas {conversations} conversa(s) com {messages} mensagem(ns), e removidos {files} arquivo(s). "
    "Isso não pode ser desfeito.",
    "privacy_confirm": "Entendo que os dados deste cliente serão apagados para sempre",
    "privacy_erase_now": "Apagar agora",
    "privacy_cancel": "Cancelar",
    "privacy_confirm_first": "Marque a confirmação antes de apagar.",
    "privacy_erased": "Dados apagados: {conversations} conversa(s), {messages} mensagem(ns), {files} arquivo(s).",
    "privacy_retention_title": "Prazo de guarda",
    "privacy_retention_now": "Conversas com mais de {days} dias são anonimizadas automaticamente.",
    "privacy_retention_off": "Desligado: todas as conversas são guardadas.",
    "privacy_days": "Anonimizar conversas com mais de (dias)",
    "privacy_days_hint": "Um número de 1 a {max}; vazio desliga (guarda tudo).",
    "privacy_retention_save": "Salvar o prazo",
    "privacy_retention_saved": "Prazo de guarda salvo.",
    "privacy_bad_retention": "O prazo é um número inteiro de dias de 1 a {max}, ou vazio para guardar tudo.",
    "channel_widget": "Site (widget)",
    "channel_telegram": "Telegram",
    "channel_whatsapp": "WhatsApp",
}

_PT_PT = {
    **_PT_BR,
    "privacy_title": "Privacidade (RGPD)",
    "privacy_intro": "Encontre um cliente para ver os dados guardados sobre ele, descarregá-los ou apagá-los a pedido dele. "
    "Cada exportação e eliminação fica no registo de auditoria.",
    "privacy_customer": "Telefone, e-mail, Telegram ou conversa",
    "privacy_customer_hint": "Um telefone como +351912345678, um id do Telegram (tg-12345 ou @utilizador), "
    "o e-mail ou id do cliente no site, ou o id de uma conversa.",
    "privacy_unknown": "Nenhum cliente ou conversa corresponde a “{query}”: procure por um telefone (+351912345678), "
    "um id do Telegram (tg-12345 ou @utilizador), o id do cliente no site ou o id de uma conversa.",
    "privacy_files": "Ficheiros",
    "privacy_records": "Registos do cliente nos canais",
    "privacy_address": "Endereço ou utilizador",
    "privacy_export_hint": "Um ficheiro zip com as conversas em todos os canais, os inquéritos e os ficheiros enviados.",
    "privacy_surveys": "Inquéritos",
    "privacy_export": "Descarregar o ficheiro zip",
    "privacy_erase_hint": "A pedido do cliente: textos, nomes, telefones e ficheiros são removidos; contagens, horas e classificações "
    "ficam, para os números do painel não mudarem.",
    "privacy_erase_warning": "Serão anonimizadas {conversations} conversa(s) com {messages} mensagem(ns), e removidos {files} ficheiro(s). "
    "Isto não pode ser desfeito.",
    "privacy_confirm": "Compreendo que os dados deste cliente serão apagados para sempre",
    "privacy_erased": "Dados apagados: {conversations} conversa(s), {messages} mensagem(ns), {files} ficheiro(s).",
    "privacy_retention_title": "Prazo de conservação",
    "privacy_retention_off": "Desligado: todas as conversas são conservadas.",
    "privacy_days_hint": "Um número de 1 a {max}; vazio desliga (conserva tudo).",
    "privacy_retention_save": "Guardar o prazo",
    "privacy_retention_saved": "Prazo de conservação guardado.",
    "privacy_bad_retention": "O prazo é um número inteiro de dias de 1 a {max}, ou vazio para conservar tudo.",
}

_EN = {
    "privacy_title": "Privacy (GDPR / LGPD)",
    "privacy_intro": "Find a customer to see what the desk holds about them, download it or erase it at their request. "
    "Every export and erasure is in the audit log.",
    "privacy_find": "Find customer",
    "privacy_customer": "Phone, e-mail, Telegram or conversation",
    "privacy_customer_hint": "A phone number like +5511987654321, a Telegram id (tg-12345 or @username), "
    "the website customer's e-mail or id, or a conversation id.",
    "privacy_unknown": "No customer or conversation matches “{query}”: search by a phone number (+5511987654321), "
    "a Telegram id (tg-12345 or @username), the website customer's id or a conversation id.",
    "privacy_held": "Data held, per channel",
    "privacy_channel": "Channel",
    "privacy_conversations": "Conversations",
    "privacy_messages": "Messages",
    "privacy_files": "Files",
    "privacy_surveys": "Surveys",
    "privacy_records": "The customer's records on the channels",
    "privacy_name": "Name",
    "privacy_address": "Address or username",
    "privacy_export_title": "Export the data",
    "privacy_export_hint": "A zip file with the conversations on every channel, the surveys and the files sent.",
    "privacy_export": "Download the zip file",
    "privacy_erase_title": "Erase the customer's data",
    "privacy_erase_hint": "At the customer's request: texts, names, phone numbers and files are removed; counts, times and scores stay, "
    "so the dashboard's numbers do not change.",
    "privacy_erase": "Erase this customer's data…",
    "privacy_erase_warning": "{conversations} conversation(s) with {messages} message(s) will be anonymised and {files} file(s) removed. "
    "This cannot be undone.",
    "privacy_confirm": "I understand this customer's data will be erased for good",
    "privacy_erase_now": "Erase now",
    "privacy_cancel": "Cancel",
    "privacy_confirm_first": "Tick the confirmation before erasing.",
    "privacy_erased": "Data erased: {conversations} conversation(s), {messages} message(s), {files} file(s).",
    "privacy_retention_title": "Retention period",
    "privacy_retention_now": "Conversations older than {days} days are anonymised automatically.",
    "privacy_retention_off": "Off: every conversation is kept.",
    "privacy_days": "Anonymise conversations older than (days)",
    "privacy_days_hint": "A number from 1 to {max}; empty turns it off (keeps everything).",
    "privacy_retention_save": "Save the period",
    "privacy_retention_saved": "Retention period saved.",
    "privacy_bad_retention": "The period is a whole number of days from 1 to {max}, or empty to keep everything.",
    "channel_widget": "Website (widget)",
    "channel_telegram": "Telegram",
    "channel_whatsapp": "WhatsApp",
}

PRIVACY_TEXTS = {"pt-BR": _PT_BR, "pt-PT": _PT_PT, "en": _EN}
