"""Readers of a portfolio upload: a CSV file or a JSON list of applications.

Every input row becomes exactly one `InputRow`: the application as a dict, or a readable error
when the row itself cannot be read (a JSON item that is not an object, a CSV row with too many
cells). Schema validation happens later, per row, so one bad row never stops the batch.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any


class UnreadableFile(ValueError):
    """The whole file cannot be read as applications; the message says why."""


@dataclass
class InputRow:
    application: dict[str, Any]
    error: str = ""


def read_applications(name: str, binary: IO[bytes]) -> Iterator[InputRow]:
    """The applications of one uploaded file, by extension: .csv or .json."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        yield from read_csv(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
    elif lowered.endswith(".json"):
        yield from read_json_list(json_document(binary.read()))
    else:
        raise UnreadableFile(f"{name}: expected a .csv or .json file of applications")


def json_document(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableFile(f"not valid UTF-8 JSON: {exc}") from None


def read_json_list(document: Any) -> Iterator[InputRow]:
    items = document.get("applications") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise UnreadableFile('expected a JSON list of applications or {"applications": [...]}')
    for item in items:
        if isinstance(item, dict):
            yield InputRow(item)
        else:
            yield InputRow({"value": item}, "An application must be a JSON object of field: value.")


def read_csv(text: IO[str]) -> Iterator[InputRow]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile("the CSV file is empty: expected a header row of field names") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"the CSV header cannot be read: {exc}") from None
    header = [h.strip() for h in header]
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UnreadableFile(f"CSV line {reader.line_num}: {exc}") from None
        if not any(c.strip() for c in cells):
            continue  # blank lines are not applications
        if len(cells) > len(header):
            yield InputRow(dict(zip(header, cells, strict=False)), f"CSV line {reader.line_num} has {len(cells)} cells but the header has {len(header)}.")
            continue
        # A cell a short row lacks is missing, like an empty one.
        yield InputRow({h: c for h, c in zip(header, cells, strict=False) if c.strip() != ""})
