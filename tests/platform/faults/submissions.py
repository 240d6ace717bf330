"""What a person or a client submits to each registered solution: its sample files, its
API create endpoint and its browser upload form (read from the page, so new solutions and
new form fields are covered without editing the tests)."""

from html.parser import HTMLParser
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from solutions import registry

REPO_ROOT = Path(__file__).resolve().parents[3]


def sample_paths(solution: registry.Solution) -> list[Path]:
    """The solution's sample files (solutions/<name>/samples/) that its uploads accept, those
    of its first-listed input kind (its main one: a portfolio CSV before a JSON application)
    first."""
    folder = REPO_ROOT / "solutions" / solution.name / "samples"
    extensions = [kind.lower() for kind in solution.input_kinds if kind.startswith(".")]
    if not folder.is_dir():
        return []

    def kind_rank(path: Path) -> int:
        name = path.name.lower()
        return min(rank for rank, ext in enumerate(extensions) if name.endswith(ext))

    accepted = [
        path
        for path in folder.iterdir()
        if path.is_file() and path.name.lower().endswith(tuple(extensions))
    ]
    return sorted(accepted, key=lambda path: (kind_rank(path), path.name))


def sample_upload(solution: registry.Solution) -> SimpleUploadedFile:
    """The solution's first sample file as an upload."""
    paths = sample_paths(solution)
    assert paths, (
        f"{solution.name} ships no sample file it accepts (solutions/{solution.name}/samples/)"
    )
    return SimpleUploadedFile(paths[0].name, paths[0].read_bytes())


def solutions_with_uploads() -> list[registry.Solution]:
    """Every product solution (from solutions/, not a test's) that takes files; its API
    create endpoint is /api/v1/<name>/jobs/ and its upload form is at /<name>/."""
    return [
        solution
        for solution in registry.all_solutions()
        if solution.input_kinds and solution.pipeline.__module__.startswith("solutions.")
    ]


class UploadFormReader(HTMLParser):
    """The first multipart form of a page: its action, file field and default field values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.file_field: str | None = None
        self.values: dict[str, str] = {}
        self._in_form = False
        self._done = False
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if self._done:
            return
        if tag == "form" and "multipart" in attributes.get("enctype", ""):
            self._in_form = True
            self.action = attributes.get("action", "")
        if not self._in_form:
            return
        name = attributes.get("name", "")
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind == "file":
                self.file_field = self.file_field or name
            elif kind in ("checkbox", "radio"):
                if "checked" in attributes:
                    self.values[name] = attributes.get("value", "on")
            elif kind not in ("submit", "button"):
                self.values[name] = attributes.get("value", "")
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select is not None:
            value = attributes.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attributes:
                self.values[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            self.values.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def read_upload_form(html: str) -> UploadFormReader:
    reader = UploadFormReader()
    reader.feed(html)
    assert reader.file_field, "the page has no multipart form with a file field"
    return reader
