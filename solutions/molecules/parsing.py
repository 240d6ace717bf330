"""Streaming readers of compound libraries: SMILES files, CSV, SDF (V2000/V3000) and JSON.

Every reader is a generator that yields one `InputRecord` per input row, in input order, and
never holds more than one row in memory, so a library of a million molecules streams through.
A row RDKit cannot read is a record with `mol=None` and a readable `error` — never a dropped row.
Problems with the file as a whole (empty file, no SMILES column) raise `InputError`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any

from rdkit import Chem, rdBase

# A SMILES line longer than this is an error row; the rest of the line is skipped unread-into-memory.
MAX_LINE_BYTES = 64 * 1024
# An SDF record larger than this is an error row (a large protein's record is a few MB).
MAX_RECORD_BYTES = 8 * 1024 * 1024
# The input text kept on a result row and quoted in messages.
MAX_STORED_TEXT = 2000
MAX_QUOTED_TEXT = 60

SMILES_COLUMN_NAMES = ("smiles", "canonical_smiles", "isomeric_smiles", "smi", "structure", "mol")
NAME_COLUMN_NAMES = ("name", "id", "compound_id", "mol_id", "molecule_id", "compound", "title")

FORMAT_BY_SUFFIX = {
    ".smi": "smiles",
    ".smiles": "smiles",
    ".txt": "smiles",
    ".csv": "csv",
    ".tsv": "csv",
    ".sdf": "sdf",
    ".sd": "sdf",
    ".mol": "sdf",
    ".json": "json",
    ".jsonl": "jsonl",
}


class InputError(ValueError):
    """The input as a whole cannot be read (empty, no SMILES column, unknown format)."""


@dataclass(slots=True)
class InputRecord:
    index: int  # 0-based position among the input's rows
    location: str  # where the row is, for messages: "line 14", "record 3 (line 120)", "item 5"
    text: str  # the input as given (SMILES, or the start of a mol block), capped
    name: str
    mol: Chem.Mol | None
    error: str = ""  # readable reason when mol is None


def input_format(filename: str) -> str:
    """The reader to use for a file name: smiles, csv, sdf, json or jsonl."""
    suffix = PurePath(filename).suffix.lower()
    try:
        return FORMAT_BY_SUFFIX[suffix]
    except KeyError:
        known = ", ".join(sorted(FORMAT_BY_SUFFIX))
        raise InputError(
            f"{filename}: unknown file type {suffix or '(none)'}; use one of {known}"
        ) from None


def read_molecules(
    stream: IO[bytes],
    filename: str,
    *,
    smiles_column: str | None = None,
    name_column: str | None = None,
) -> Iterator[InputRecord]:
    """Yield one record per row of a library file; the format comes from the file name."""
    kind = input_format(filename)
    if kind == "smiles":
        return read_smiles_file(stream)
    if kind == "csv":
        delimiter = "\t" if filename.lower().endswith(".tsv") else None
        return read_csv(
            stream, smiles_column=smiles_column, name_column=name_column, delimiter=delimiter
        )
    if kind == "sdf":
        return read_sdf(stream)
    if kind == "jsonl":
        return read_json_lines(stream)
    return read_json_array(stream)


def _quote(text: str) -> str:
    return repr(text if len(text) <= MAX_QUOTED_TEXT else text[:MAX_QUOTED_TEXT] + "...")


_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\] ")
_FOR_INPUT = re.compile(r" for input: '.*'$")
# Lines of RDKit's invariant-violation banner that say nothing about the molecule.
_BANNER = re.compile(r"^(\**|-+|(Pre|Post)-condition Violation|Invariant Violation)$")


def captured_log(capture: Any) -> str:
    """The text of an rdBase.CaptureErrorLog, or "" when RDKit cut a non-ASCII input
    mid-character in its message and the log is not valid UTF-8."""
    try:
        return capture.messages
    except UnicodeDecodeError:
        return ""


def _rdkit_reason(log_text: str) -> str:
    """The first meaningful line RDKit logged, without its timestamp and boilerplate."""
    for raw in log_text.splitlines():
        line = _TIMESTAMP.sub("", raw).strip()
        line = line.removeprefix("SMILES Parse Error:").strip()
        line = _FOR_INPUT.sub("", line)
        if line and not _BANNER.match(line):
            return line
    return "RDKit could not read it"


def mol_from_smiles(smiles: str) -> tuple[Chem.Mol | None, str]:
    """Parse and sanitize a SMILES; on failure return (None, RDKit's reason)."""
    with rdBase.CaptureErrorLog() as capture:
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None, _rdkit_reason(captured_log(capture))
    if mol.GetNumAtoms() == 0:
        return None, "it has no atoms"
    return mol, ""


def _smiles_record(index: int, location: str, smiles: str, name: str) -> InputRecord:
    smiles = smiles.strip()
    if not smiles:
        return InputRecord(index, location, "", name, None, f"{location}: no SMILES given")
    mol, reason = mol_from_smiles(smiles)
    error = (
        f"{location}: SMILES {_quote(smiles)} could not be parsed: {reason}" if mol is None else ""
    )
    return InputRecord(index, location, smiles[:MAX_STORED_TEXT], name, mol, error)


def _bounded_lines(stream: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """Yield (line number, line bytes, size); bytes is None for a line over `limit` bytes.

    An over-long line is skipped in chunks, so a 10 MB line costs at most `limit` bytes of memory.
    """
    line_no = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        line_no += 1
        if len(line) > limit and not line.endswith(b"\n"):
            size = len(line)
            while True:
                rest = stream.readline(limit)
                size += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield line_no, None, size
        else:
            yield line_no, line, len(line)


def _decode(line: bytes, first: bool) -> str | None:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.removeprefix("\ufeff") if first else text


def _text_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None, str]]:
    """Yield (line number, decoded line without newline, error) for a text file, bounded per line."""
    for line_no, raw, size in _bounded_lines(stream, MAX_LINE_BYTES):
        location = f"line {line_no}"
        if raw is None:
            yield (
                line_no,
                None,
                f"{location}: {size:,} bytes is longer than the {MAX_LINE_BYTES:,}-byte limit",
            )
            continue
        text = _decode(raw, first=line_no == 1)
        if text is None:
            yield line_no, None, f"{location}: not UTF-8 text"
            continue
        yield line_no, text.rstrip("\r\n"), ""


def read_smiles_file(stream: IO[bytes]) -> Iterator[InputRecord]:
    """A SMILES file: one molecule per line, SMILES then an optional name after whitespace.

    Blank lines and lines starting with '#' are not rows; a first line whose first word is
    'smiles' is a header.
    """
    index = 0
    for line_no, text, error in _text_lines(stream):
        location = f"line {line_no}"
        if text is None:
            yield InputRecord(index, location, "", "", None, error)
            index += 1
            continue
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(maxsplit=1)
        if index == 0 and parts[0].lower() in SMILES_COLUMN_NAMES:
            continue
        name = parts[1].strip() if len(parts) > 1 else ""
        yield _smiles_record(index, location, parts[0], name)
        index += 1
    if index == 0:
        raise InputError(
            "the file holds no molecules (it is empty or only blank lines and comments)"
        )


def _find_column(
    header: list[str], wanted: str | None, candidates: tuple[str, ...], what: str
) -> int | None:
    lowered = [h.strip().lower() for h in header]
    if wanted:
        if wanted.strip().lower() in lowered:
            return lowered.index(wanted.strip().lower())
        raise InputError(
            f"there is no {what} column {wanted!r}; the header has {', '.join(repr(h) for h in header)}"
        )
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    return None


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(
    stream: IO[bytes],
    *,
    smiles_column: str | None = None,
    name_column: str | None = None,
    delimiter: str | None = None,
) -> Iterator[InputRecord]:
    """A CSV (or TSV) file with a header row; one record per line after the header.

    The SMILES column is `smiles_column` when given, else the first header named like
    smiles/SMILES/canonical_smiles/...; the name column likewise (optional).
    """
    lines = _text_lines(stream)
    smiles_at = name_at = None
    index = 0
    for line_no, text, error in lines:
        if text is None:
            if smiles_at is None:
                raise InputError(f"the header (line {line_no}) cannot be read: {error}")
            yield InputRecord(index, f"line {line_no}", "", "", None, error)
            index += 1
            continue
        if not text.strip():
            continue
        if smiles_at is None:
            delimiter = delimiter or _sniff_delimiter(text)
            header = next(csv.reader([text], delimiter=delimiter))
            smiles_at = _find_column(header, smiles_column, SMILES_COLUMN_NAMES, "SMILES")
            if smiles_at is None:
                raise InputError(
                    "no SMILES column found: the header has "
                    f"{', '.join(repr(h) for h in header)}; name a column 'smiles' or choose one"
                )
            name_at = _find_column(header, name_column, NAME_COLUMN_NAMES, "name")
            continue
        location = f"line {line_no}"
        try:
            fields = next(csv.reader([text], delimiter=delimiter))
        except csv.Error as exc:
            yield InputRecord(
                index, location, text[:MAX_STORED_TEXT], "", None, f"{location}: {exc}"
            )
            index += 1
            continue
        smiles = fields[smiles_at] if smiles_at < len(fields) else ""
        name = fields[name_at].strip() if name_at is not None and name_at < len(fields) else ""
        yield _smiles_record(index, location, smiles, name)
        index += 1
    if smiles_at is None:
        raise InputError("the file is empty: expected a header row and one molecule per line")
    if index == 0:
        raise InputError("the file has a header but no molecules")


_DATA_HEADER = re.compile(r"^>.*<([^>]+)>")


def _sdf_data_fields(lines: list[str]) -> dict[str, str]:
    """The '> <NAME>' data items after M  END, as name -> value (lines joined by newlines)."""
    fields: dict[str, str] = {}
    current: str | None = None
    values: list[str] = []
    for line in lines:
        match = _DATA_HEADER.match(line)
        if match:
            current, values = match.group(1), []
            continue
        if current is None:
            continue
        if line.strip():
            values.append(line)
        else:
            fields[current] = "\n".join(values)
            current = None
    if current is not None:
        fields[current] = "\n".join(values)
    return fields


def _sdf_record(index: int, first_line: int, lines: list[str], terminated: bool) -> InputRecord:
    location = f"record {index + 1} (line {first_line})"
    title = lines[0].strip() if lines else ""
    end_at = next((i for i, line in enumerate(lines) if line.startswith("M  END")), None)
    text = "\n".join(lines)[:MAX_STORED_TEXT]
    if end_at is None:
        why = (
            "the file ends inside it (truncated record)"
            if not terminated
            else "it has no 'M  END' line"
        )
        return InputRecord(
            index, location, text, title, None, f"{location}: incomplete mol block: {why}"
        )
    block = "\n".join(lines[: end_at + 1]) + "\n"
    with rdBase.CaptureErrorLog() as capture:
        try:
            mol = Chem.MolFromMolBlock(block, sanitize=True, removeHs=True)
        except (RuntimeError, ValueError) as exc:  # a few malformed blocks raise instead
            mol = None
            rdBase.LogErrorMsg(str(exc))
    fields = _sdf_data_fields(lines[end_at + 1 :])
    name = title or next((fields[k].strip() for k in fields if k.lower() in NAME_COLUMN_NAMES), "")
    if mol is None:
        reason = _rdkit_reason(captured_log(capture))
        return InputRecord(
            index, location, text, name, None, f"{location}: mol block could not be read: {reason}"
        )
    if mol.GetNumAtoms() == 0:
        return InputRecord(
            index, location, text, name, None, f"{location}: the mol block has no atoms"
        )
    for key, value in fields.items():
        mol.SetProp(key, value)
    return InputRecord(index, location, text, name, mol)


def read_sdf(stream: IO[bytes]) -> Iterator[InputRecord]:
    """An SD file (V2000 or V3000 mol blocks), one record per '$$$$'-terminated entry.

    Records are cut here rather than by ForwardSDMolSupplier so that each keeps its line number
    and text for the message, a truncated last record is reported as such, and record and line
    sizes stay bounded. Each mol block is then read by RDKit's MolFromMolBlock.
    """
    index = 0
    lines: list[str] = []
    size = 0
    first_line = 1
    problem = ""  # set when the record cannot be kept: its lines are dropped until '$$$$'
    for line_no, raw, line_size in _bounded_lines(stream, MAX_LINE_BYTES):
        if not lines and not problem:
            first_line = line_no
        size += line_size
        text = _decode(raw, first=line_no == 1) if raw is not None else None
        if text is not None and text.rstrip("\r\n") == "$$$$":
            if problem:
                location = f"record {index + 1} (line {first_line})"
                yield InputRecord(index, location, "", "", None, f"{location}: {problem}")
            else:
                yield _sdf_record(index, first_line, lines, terminated=True)
            index += 1
            lines, size, problem = [], 0, ""
            continue
        if problem:
            continue
        if raw is None:
            problem = f"line {line_no} is longer than the {MAX_LINE_BYTES:,}-byte limit"
        elif text is None:
            problem = f"line {line_no} is not UTF-8 text"
        elif size > MAX_RECORD_BYTES:
            problem = f"the record is larger than the {MAX_RECORD_BYTES:,}-byte limit"
        if problem:
            lines = []
        else:
            lines.append(text.rstrip("\r\n"))
    if problem:
        location = f"record {index + 1} (line {first_line})"
        yield InputRecord(index, location, "", "", None, f"{location}: {problem}")
        index += 1
    elif any(line.strip() for line in lines):
        yield _sdf_record(index, first_line, lines, terminated=False)
        index += 1
    if index == 0:
        raise InputError("the SD file holds no records")


def _json_item_record(index: int, location: str, item: Any) -> InputRecord:
    if isinstance(item, str):
        return _smiles_record(index, location, item, "")
    if isinstance(item, dict):
        smiles = next((item[k] for k in item if k.lower() in SMILES_COLUMN_NAMES), None)
        name = next((item[k] for k in item if k.lower() in NAME_COLUMN_NAMES), "")
        if isinstance(smiles, str):
            return _smiles_record(index, location, smiles, str(name)[:MAX_STORED_TEXT])
    text = json.dumps(item)[:MAX_STORED_TEXT]
    return InputRecord(
        index,
        location,
        text,
        "",
        None,
        f"{location}: expected a SMILES string or an object with a 'smiles' key",
    )


def read_json_items(items: Iterable[Any]) -> Iterator[InputRecord]:
    """A JSON list already decoded: each item a SMILES string or {"smiles": ..., "name": ...}."""
    index = -1
    for index, item in enumerate(items):
        yield _json_item_record(index, f"item {index + 1}", item)
    if index < 0:
        raise InputError("the list of molecules is empty")


def read_json_array(stream: IO[bytes]) -> Iterator[InputRecord]:
    """A .json file holding one list (bounded by the upload size limit, so it is read whole)."""
    try:
        items = json.load(stream)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"the JSON file cannot be read: {exc}") from None
    if not isinstance(items, list):
        raise InputError("the JSON file must hold a list of SMILES strings or objects")
    return read_json_items(items)


def read_json_lines(stream: IO[bytes]) -> Iterator[InputRecord]:
    """A JSON Lines file: one SMILES string or object per line (what the API stores a list as)."""
    index = 0
    for line_no, text, error in _text_lines(stream):
        location = f"item {index + 1}"
        if text is None:
            yield InputRecord(index, location, "", "", None, error)
        elif not text.strip():
            continue
        else:
            try:
                item = json.loads(text)
            except json.JSONDecodeError as exc:
                yield InputRecord(
                    index, location, text[:MAX_STORED_TEXT], "", None, f"line {line_no}: {exc}"
                )
            else:
                yield _json_item_record(index, location, item)
        index += 1
    if index == 0:
        raise InputError("the list of molecules is empty")
