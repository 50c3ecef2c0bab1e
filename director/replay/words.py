"""The workflow document's fixed words, in English and Chinese, from one packaged file
(``director/prompts/document/workflow.json``), and the document's language.

The language is the one asked for (``--doc-lang``), else the one the run recorded (its options,
or a resume that changed it), else the film's own: the story's language, or the logline's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from director import prompts
from director.errors import InputError
from director.text import is_chinese

LANGUAGES = ("en", "zh")


@cache
def _table() -> dict[str, dict[str, Any]]:
    return prompts.read_json("document", "workflow.json")


class Words:
    """``w("key", name=value)``: the sentence in the document's language, filled in."""

    def __init__(self, lang: str) -> None:
        self.lang = checked_language(lang)

    def raw(self, key: str) -> Any:
        return _table()[key][self.lang]

    def __call__(self, key: str, **values: Any) -> str:
        return str(self.raw(key)).format(**values)

    def n(self, key: str, n: int, **values: Any) -> str:
        """A count with its noun: '1 shot', '11 shots', '11 个镜头'."""
        forms = self.raw(key)
        form = forms if isinstance(forms, str) else forms[0 if n == 1 else 1]
        return form.format(n=n, **values)

    def named(self, key: str, name: str) -> str:
        """A name from one of the file's tables (roles, transitions), or the name itself."""
        return self.raw(key).get(name, name)

    def join(self, items: list[str]) -> str:
        return self("list_sep").join(items)


def checked_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise InputError(
            f"--doc-lang {lang!r} is not a language the workflow document is written in.",
            "Use --doc-lang en or --doc-lang zh (or leave it out for the film's language).",
        )
    return lang


def document_language(record, asked: str | None = None) -> str:
    """The language the document is written in (see the module's note)."""
    if asked:
        return checked_language(asked)
    recorded = record.doc_lang or (
        record.started.options.get("doc_lang") if record.started else None
    )
    if recorded in LANGUAGES:
        return recorded
    if record.story is not None:
        return record.story.language
    logline = record.started.logline if record.started else ""
    return "zh" if is_chinese(logline) else "en"
