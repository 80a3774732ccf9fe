"""``data/kb/*.md``: YAML front matter (id, lang, title, questions, team, tags) and a Markdown body.

An article's team must be one of the desk's teams: the caller passes them (handoff's teams table),
so a desk with other teams than the demo shop's takes articles for them."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml

from core.languages import LANGUAGES

MAX_BODY_CHARS = 20_000
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")


class ArticleFileError(ValueError):
    """A file in the knowledge-base folder is not a valid article; names the file and the field."""

    def __init__(self, path: Path, field_name: str, problem: str) -> None:
        super().__init__(f"{path}: field '{field_name}': {problem}")
        self.path, self.field, self.problem = path, field_name, problem


@dataclass
class ArticleDraft:
    """An article as written in a file or a form, checked but not stored."""

    id: str
    lang: str
    title: str
    body: str
    team: str
    questions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    status: str = "published"


def check_article(values: dict, where: Path | str = "<article>", *, teams: Collection[str]) -> ArticleDraft:
    """Validate article fields (the team against ``teams``, the ids of the desk's teams); raises
    ``ArticleFileError`` naming the first bad field."""
    path = Path(str(where))

    def text(name: str, limit: int) -> str:
        value = values.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ArticleFileError(path, name, "is missing or empty")
        if len(value) > limit:
            raise ArticleFileError(path, name, f"is longer than {limit} characters")
        return value.strip()

    article_id = text("id", 80)
    if not _ID.match(article_id):
        raise ArticleFileError(path, "id", "use lowercase letters, digits and dashes (e.g. prazo-de-entrega)")
    lang = text("lang", 8)
    if lang not in LANGUAGES:
        raise ArticleFileError(path, "lang", f"{lang!r} is not one of {', '.join(LANGUAGES)}")
    team = text("team", 40)
    if team not in teams:
        raise ArticleFileError(path, "team", f"{team!r} is not one of {', '.join(teams)}")
    questions = values.get("questions") or []
    if not isinstance(questions, list) or not all(isinstance(q, str) and q.strip() for q in questions):
        raise ArticleFileError(path, "questions", "must be a list of non-empty texts")
    tags = values.get("tags") or []
    if not isinstance(tags, list):
        raise ArticleFileError(path, "tags", "must be a list")
    status = values.get("status", "published")
    if status not in ("draft", "published"):
        raise ArticleFileError(path, "status", "must be draft or published")
    return ArticleDraft(
        id=article_id,
        lang=lang,
        title=text("title", 200),
        body=text("body", MAX_BODY_CHARS),
        team=team,
        questions=[q.strip() for q in questions],
        tags=[str(t) for t in tags],
        status=status,
    )


def read_article_values(path: Path) -> dict:
    """The fields of one article file (front matter and ``body``), not checked yet; raises
    ``ArticleFileError`` when the front matter is not valid YAML."""
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        raise ArticleFileError(path, "front matter", f"is not valid YAML ({exc.__class__.__name__})") from exc
    values = dict(post.metadata)
    values["body"] = post.content
    return values


def parse_article_file(path: Path, *, teams: Collection[str]) -> ArticleDraft:
    """Read one article file; raises ``ArticleFileError`` with the file and the field at fault."""
    return check_article(read_article_values(path), path, teams=teams)


def load_kb_dir(folder: Path, *, teams: Collection[str]) -> tuple[list[ArticleDraft], list[ArticleFileError]]:
    """Every article under ``folder`` (recursively), and the errors of the files that are not valid
    (an article's team must be one of ``teams``). One bad file never stops the others from
    loading; a repeated (id, lang) is an error too."""
    drafts: list[ArticleDraft] = []
    errors: list[ArticleFileError] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            draft = parse_article_file(path, teams=teams)
        except ArticleFileError as exc:
            errors.append(exc)
            continue
        key = (draft.id, draft.lang)
        if key in seen:
            errors.append(ArticleFileError(path, "id", f"{draft.id} ({draft.lang}) is already used by {seen[key]}"))
            continue
        seen[key] = path
        drafts.append(draft)
    return drafts, errors


def _scalar(value: str) -> str:
    """One YAML scalar on one line: plain when YAML reads it back unchanged, quoted otherwise."""
    text = yaml.safe_dump(value, allow_unicode=True, width=1_000_000, default_flow_style=True)
    return text.removesuffix("\n").removesuffix("\n...")


def render_article_file(draft: ArticleDraft) -> str:
    """The file text of an article (the export format; ``parse_article_file`` reads it back).

    The layout is the starter articles' own (alternative questions as an indented block, tags as
    a flow list), so importing ``data/kb`` and exporting it gives the same bytes."""
    lines = ["---", f"id: {_scalar(draft.id)}", f"lang: {_scalar(draft.lang)}", f"title: {_scalar(draft.title)}"]
    if draft.questions:
        lines.append("questions:")
        lines += [f"  - {_scalar(q)}" for q in draft.questions]
    else:
        lines.append("questions: []")
    lines.append(f"team: {_scalar(draft.team)}")
    tags = yaml.safe_dump([str(t) for t in draft.tags], allow_unicode=True, width=1_000_000, default_flow_style=True)
    lines.append(f"tags: {tags.strip()}")
    if draft.status != "published":
        lines.append(f"status: {_scalar(draft.status)}")
    lines.append("---")
    return "\n".join(lines) + "\n" + draft.body.strip() + "\n"


def export_path(folder: Path, draft: ArticleDraft) -> Path:
    """Where the export writes an article: ``<folder>/<lang>/<id>.md``."""
    return folder / draft.lang / f"{draft.id}.md"
