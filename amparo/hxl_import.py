"""Convert an HXL-tagged service list (CSV or XLSX) into catalog YAML, with a report.

Partners keep "who does what where" lists as spreadsheets whose second row carries HXL
hashtags (https://hxlstandard.org). The columns may be in any order and have any
headers; the hashtags below say what each one is. Lists (types, populations, languages)
are separated by ``;`` ``,`` or ``|``; flags accept true/false, yes/no, sí/no, sim/não,
1/0.

    python -m amparo.hxl_import services.csv -o var/services_catalog.yml
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

import hxl
import yaml

from amparo.catalog import validate
from amparo.geo import geonames_countries
from amparo.text import fold

# Catalog field → HXL tag pattern. Descriptions use HXL's language attributes.
COLUMNS = {
    "id": "#service+id",
    "name": "#service+name",
    "organisation": "#org+name",
    "network": "#org+network",
    "mobile": "#service+mobile",
    "types": "#service+type",
    "populations": "#targeted+type",
    "country": "#country+code",
    "city": "#loc+city",
    "address": "#loc+address",
    "latitude": "#geo+lat",
    "longitude": "#geo+lon",
    "opening_hours": "#service+hours",
    "timezone": "#service+timezone",
    "phone": "#contact+phone",
    "whatsapp": "#contact+whatsapp",
    "languages": "#service+languages",
    "free": "#service+free",
    "any_legal_status": "#service+any_status",
    "last_verified": "#date+verified",
}
DESCRIPTIONS = {lang: f"#description+i_{lang}" for lang in ("es", "en", "pt")}
LISTS = ("types", "populations", "languages")
FLAGS = ("mobile", "free", "any_legal_status")
NUMBERS = ("latitude", "longitude")
OPTIONAL = ("phone", "whatsapp")
_TRUE = {"true", "yes", "y", "si", "sim", "1", "x"}
_FALSE = {"false", "no", "n", "nao", "0"}
_SEPARATORS = re.compile(r"[;,|]")
ALPHA3 = {c["iso3"]: code for code, c in geonames_countries().items()}


class SpreadsheetError(Exception):
    """The spreadsheet cannot be read as an HXL service list at all."""


def read_rows(path: Path) -> tuple[list[dict], list[int]]:
    """Catalog entries from the spreadsheet, and the spreadsheet row of each."""
    try:
        source = hxl.data(str(path), hxl.InputOptions(allow_local=True))
        tags = [column.display_tag for column in source.columns]
    except Exception as error:  # libhxl raises many types: I/O, format, no hashtags
        raise SpreadsheetError(
            f"{path}: cannot read it as an HXL spreadsheet ({error})"
        ) from None
    patterns = {**COLUMNS, **{f"description/{k}": v for k, v in DESCRIPTIONS.items()}}
    missing = [
        tag
        for tag in patterns.values()
        if not any(hxl.model.TagPattern.parse(tag).match(c) for c in source.columns)
    ]
    if missing:
        raise SpreadsheetError(
            f"{path}: no column tagged {', '.join(missing)} (found: {', '.join(tags)})"
        )
    entries, rows = [], []
    for row in source:
        if not any(str(v or "").strip() for v in row.values):
            continue
        entry = {field: _value(field, row.get(tag)) for field, tag in COLUMNS.items()}
        entry["description"] = {
            lang: " ".join(str(row.get(tag) or "").split())
            for lang, tag in DESCRIPTIONS.items()
        }
        entries.append(entry)
        rows.append(row.source_row_number + 1)
    return entries, rows


def _value(field: str, raw: object) -> object:
    """The cell as the catalog wants it; what cannot be converted stays as typed, so
    the validator reports it with the row and the column."""
    text = " ".join(str(raw or "").split())
    if not text:
        return None if field in OPTIONAL else ""
    if field in LISTS:
        return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]
    if field in FLAGS:
        word = fold(text)
        return True if word in _TRUE else False if word in _FALSE else text
    if field in NUMBERS:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return text
    if field == "last_verified":
        try:
            return dt.date.fromisoformat(text.removesuffix(" 00:00:00"))
        except ValueError:
            return text
    if field == "country":  # HDX lists often use alpha-3 codes: "COL" is "CO"
        code = text.upper()
        return ALPHA3.get(code, code) if len(code) == 3 else code
    return text


def convert(path: Path) -> tuple[str, list[str], int]:
    """(catalog YAML, problems, number of entries) for a spreadsheet."""
    entries, rows = read_rows(path)
    _, problems = validate(entries, where=lambda n: f"row {rows[n - 1]}")
    column = COLUMNS | {"description": "#description"}
    problems = [_with_column(p, column) for p in problems]
    header = (
        f"# Imported from {path.name} by amparo.hxl_import on {dt.date.today()}.\n"
        "# Check it, then point AMPARO_CATALOG at this file (docs/catalog.md).\n"
    )
    body = yaml.safe_dump(
        {"services": entries}, allow_unicode=True, sort_keys=False, width=100
    )
    return header + body, problems, len(entries)


def _with_column(problem: str, column: dict[str, str]) -> str:
    match = re.search(r"field '(\w+)'", problem)
    if match and match[1] in column:
        return problem.replace(match[0], f"{match[0]} (column {column[match[1]]})", 1)
    return problem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m amparo.hxl_import",
        description="Convert an HXL-tagged service list into catalog YAML.",
    )
    parser.add_argument("spreadsheet", type=Path, help="CSV or XLSX with HXL hashtags")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("var/services_catalog.yml")
    )
    args = parser.parse_args(argv)
    try:
        text, problems, count = convert(args.spreadsheet)
    except SpreadsheetError as error:
        print(error, file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"{args.spreadsheet}: {count} rows → {args.output}")
    if problems:
        print(f"{len(problems)} problem(s) to fix before using it:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("valid: the catalog can be used as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
