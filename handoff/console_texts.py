"""The agent console's words, in Portuguese and English."""

from __future__ import annotations

TEXTS = {
    "pt-BR": {
        "console": "console", "lists": "Filas e conversas", "status": "Status", "online": "Disponível",
        "away": "Ausente", "offline": "Offline", "logout": "sair", "queue": "Fila", "mine": "Minhas conversas",
        "overview": "Visão geral", "pick": "Selecione uma conversa", "claim": "Atender", "transfer": "Transferir",
        "unassign": "Devolver à fila", "reason": "Motivo", "resolved": "Resolvido", "no_response": "Sem resposta",
        "spam": "Spam", "close": "Encerrar", "to_team": "Para o time", "to_agent": "ou para", "note": "Nota",
        "history": "Histórico", "private_note": "Nota privada (o cliente não vê)", "reply": "Resposta",
        "reply_hint": "Enter envia · Shift+Enter quebra linha · /atalho para respostas prontas", "send": "Enviar",
        "attach": "Anexar arquivo (JPEG, PNG ou PDF, até 5 MB)", "file_sent": "Arquivo enviado.",
        "customer": "Cliente", "previous": "Conversas anteriores", "channel": "Canal", "name": "Nome",
        "language": "Idioma", "waiting": "esperando há", "typing": "{name} está digitando…",
        "customer_typing": "O cliente está digitando…", "new_chat": "Nova conversa na fila",
        "new_message": "Nova mensagem do cliente", "article": "artigo", "escalated": "escalada por",
        "open": "aberto", "closed": "fechado", "agents": "agentes", "chats": "conversas", "you": "você",
        "note_label": "nota privada",
        "to_article": "Virar artigo", "to_article_hint": "Criar um rascunho de artigo com esta resposta, para os editores revisarem",
        "article_suggested": "Rascunho criado para os editores: {id}",
    },
    "en": {
        "console": "console", "lists": "Queues and chats", "status": "Status", "online": "Online",
        "away": "Away", "offline": "Offline", "logout": "log out", "queue": "Queue", "mine": "My chats",
        "overview": "Overview", "pick": "Pick a conversation", "claim": "Claim", "transfer": "Transfer",
        "unassign": "Back to queue", "reason": "Reason", "resolved": "Resolved", "no_response": "No response",
        "spam": "Spam", "close": "Close", "to_team": "To team", "to_agent": "or to", "note": "Note",
        "history": "History", "private_note": "Private note (the customer does not see it)", "reply": "Reply",
        "reply_hint": "Enter sends · Shift+Enter new line · /shortcut for canned replies", "send": "Send",
        "attach": "Attach a file (JPEG, PNG or PDF, up to 5 MB)", "file_sent": "File sent.",
        "customer": "Customer", "previous": "Previous conversations", "channel": "Channel", "name": "Name",
        "language": "Language", "waiting": "waiting", "typing": "{name} is typing…",
        "customer_typing": "The customer is typing…", "new_chat": "New chat in the queue",
        "new_message": "New message from a customer", "article": "article", "escalated": "escalated:",
        "open": "open", "closed": "closed", "agents": "agents", "chats": "chats", "you": "you",
        "note_label": "private note",
        "to_article": "Make an article", "to_article_hint": "Create a draft article from this reply for the editors to review",
        "article_suggested": "Draft created for the editors: {id}",
    },
}


def console_texts(lang: str) -> tuple[str, dict[str, str]]:
    """The console language (pt-BR unless English was asked for) and its words."""
    chosen = "en" if lang.lower().startswith("en") else "pt-BR"
    return chosen, TEXTS[chosen]
