"""The knowledge-base editor's words, in Portuguese and English."""

from __future__ import annotations

TEXTS = {
    "pt-BR": {
        "editor": "base de conhecimento", "logout": "sair", "articles": "Artigos", "filters": "Filtros",
        "language": "Idioma", "team": "Time", "status": "Situação", "all": "todos", "draft": "rascunho",
        "published": "publicado", "search": "Buscar", "new": "Novo artigo", "edit": "Editar artigo",
        "id": "Identificador (ex.: prazo-de-entrega)", "title": "Título", "body": "Texto (Markdown)",
        "questions": "Perguntas alternativas (uma por linha)", "tags": "Etiquetas (separadas por vírgula)",
        "preview": "Pré-visualização", "save": "Salvar", "publish": "Publicar", "unpublish": "Despublicar",
        "delete": "Excluir", "confirm_delete": "Excluir este artigo e todo o histórico?", "history": "Histórico",
        "diff": "Diferenças", "revert": "Restaurar esta versão", "version": "versão", "try": "Testar",
        "try_hint": "O que o bot responderia a…", "ask": "Perguntar", "decision": "Decisão",
        "confidence": "confiança", "answer": "responde", "clarify": "oferece opções", "escalate": "passa para uma pessoa",
        "unanswered": "Perguntas sem resposta", "customers": "clientes", "times": "vezes",
        "create_from": "Criar artigo a partir deste grupo", "saved": "Salvo.", "published_ok": "Publicado: o bot já responde com ele.",
        "unpublished_ok": "Despublicado.", "deleted": "Excluído.", "reverted": "Versão restaurada.",
        "suggested_by": "sugerido por", "suggestions": "só sugestões de agentes", "none": "Nada por aqui.", "by": "por", "refresh": "Atualizar",
        "thresholds": "responde a partir de {a}, oferece opções a partir de {c}",
    },
    "en": {
        "editor": "knowledge base", "logout": "log out", "articles": "Articles", "filters": "Filters",
        "language": "Language", "team": "Team", "status": "Status", "all": "all", "draft": "draft",
        "published": "published", "search": "Search", "new": "New article", "edit": "Edit article",
        "id": "Id (e.g. delivery-time)", "title": "Title", "body": "Text (Markdown)",
        "questions": "Alternative questions (one per line)", "tags": "Tags (comma separated)",
        "preview": "Preview", "save": "Save", "publish": "Publish", "unpublish": "Unpublish",
        "delete": "Delete", "confirm_delete": "Delete this article and its whole history?", "history": "History",
        "diff": "Changes", "revert": "Restore this version", "version": "version", "try": "Try it",
        "try_hint": "What the bot would answer to…", "ask": "Ask", "decision": "Decision",
        "confidence": "confidence", "answer": "answers", "clarify": "offers choices", "escalate": "hands over to a person",
        "unanswered": "Unanswered questions", "customers": "customers", "times": "times",
        "create_from": "Create an article from this group", "saved": "Saved.", "published_ok": "Published: the bot answers with it now.",
        "unpublished_ok": "Unpublished.", "deleted": "Deleted.", "reverted": "Version restored.",
        "suggested_by": "suggested by", "suggestions": "agents' suggestions only", "none": "Nothing here.", "by": "by", "refresh": "Refresh",
        "thresholds": "answers from {a}, offers choices from {c}",
    },
}


def editor_texts(lang: str) -> tuple[str, dict[str, str]]:
    """The editor's language (pt-BR unless English was asked for) and its words."""
    chosen = "en" if lang.lower().startswith("en") else "pt-BR"
    return chosen, TEXTS[chosen]
