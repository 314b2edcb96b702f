"""Importing an HXL-tagged spreadsheet (CSV or XLSX) into catalog YAML."""

import csv
import datetime as dt
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import yaml

from amparo.catalog import load_catalog
from amparo.hxl_import import SpreadsheetError, convert, main, read_rows

GOOD = Path(__file__).parent / "data" / "services_hxl.csv"


def good_rows():
    """The good CSV as lists of cells: header row, hashtag row, two data rows."""
    with GOOD.open(encoding="utf-8", newline="") as file:
        return [list(row) for row in csv.reader(file)]


def write_csv(path, rows):
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


def set_cell(rows, data_row, tag, value):
    """Change one cell of data row n (0 = the first one, spreadsheet row 3)."""
    rows[2 + data_row][rows[1].index(tag)] = value


def drop_column(rows, tag):
    column = rows[1].index(tag)
    return [[cell for i, cell in enumerate(row) if i != column] for row in rows]


def services(yaml_text):
    return yaml.safe_load(yaml_text)["services"]


def only(problems, start):
    """The single problem that starts with ``start``."""
    found = [p for p in problems if p.startswith(start)]
    assert len(found) == 1, (start, problems)
    return found[0]


# --- the good spreadsheet -------------------------------------------------------------


def test_good_csv_converts_without_problems():
    text, problems, count = convert(GOOD)
    assert problems == []
    assert count == 2
    assert text.startswith("# Imported from services_hxl.csv by amparo.hxl_import")
    assert [e["id"] for e in services(text)] == ["mx-tapachula-a", "co-cucuta-b"]


def test_converted_yaml_loads_as_a_catalog(tmp_path):
    text, _, _ = convert(GOOD)
    path = tmp_path / "catalog.yml"
    path.write_text(text, encoding="utf-8")
    points = load_catalog(path)
    assert [p.id for p in points] == ["mx-tapachula-a", "co-cucuta-b"]
    assert points[1].latitude == 7.8939
    assert points[0].types == frozenset({"shelter", "food"})


def test_cell_values_are_converted():
    tapachula, cucuta = services(convert(GOOD)[0])
    # flags: "sí", "yes", "1" → true; "no", "false" → false
    assert tapachula["free"] is True
    assert tapachula["any_legal_status"] is True
    assert cucuta["free"] is True
    assert cucuta["any_legal_status"] is True
    assert tapachula["mobile"] is False
    assert cucuta["mobile"] is False
    # lists split on ";" and ","
    assert tapachula["types"] == ["shelter", "food"]
    assert cucuta["types"] == ["first_aid", "connectivity"]
    assert tapachula["languages"] == ["es", "en"]
    assert cucuta["languages"] == ["es"]
    # decimal comma, country code case, dates, empty optional cells
    assert cucuta["latitude"] == 7.8939
    assert tapachula["longitude"] == -92.2636
    assert tapachula["country"] == "MX"
    assert tapachula["last_verified"] == dt.date(2026, 10, 1)
    assert tapachula["phone"] == "+52 962 000 0101"
    assert tapachula["whatsapp"] is None
    assert cucuta["phone"] is None
    assert cucuta["description"] == {
        "es": "Primeros auxilios.",
        "en": "First aid.",
        "pt": "Primeiros socorros.",
    }


@pytest.mark.parametrize(
    ("cell", "flag"),
    [("Sí", True), ("SIM", True), ("x", True), ("0", False), ("Não", False)],
)
def test_other_flag_spellings(tmp_path, cell, flag):
    rows = good_rows()
    set_cell(rows, 0, "#service+mobile", cell)
    text, problems, _ = convert(write_csv(tmp_path / "flags.csv", rows))
    assert problems == []
    assert services(text)[0]["mobile"] is flag


def test_list_separated_by_bars(tmp_path):
    rows = good_rows()
    set_cell(rows, 0, "#service+type", "shelter | food |health")
    text, problems, _ = convert(write_csv(tmp_path / "bars.csv", rows))
    assert problems == []
    assert services(text)[0]["types"] == ["shelter", "food", "health"]


# --- problems name the spreadsheet row and the HXL column -----------------------------


@pytest.fixture
def bad_csv(tmp_path):
    rows = good_rows()
    set_cell(rows, 0, "#geo+lat", "abc")
    set_cell(rows, 0, "#service+hours", "whenever")
    set_cell(rows, 1, "#service+id", "mx-tapachula-a")  # same id as row 3
    set_cell(rows, 1, "#service+type", "first_aid; spa")
    set_cell(rows, 1, "#description+i_pt", "")
    return write_csv(tmp_path / "bad.csv", rows)


def test_bad_rows_are_reported_by_row_and_column(bad_csv):
    _, problems, count = convert(bad_csv)
    assert count == 2
    assert len(problems) == 5, problems
    assert only(
        problems, "row 3 (mx-tapachula-a): field 'latitude' (column #geo+lat): "
    ).endswith("must be a number, not 'abc'")
    assert "'whenever' is not valid opening_hours syntax" in only(
        problems,
        "row 3 (mx-tapachula-a): field 'opening_hours' (column #service+hours): ",
    )
    assert "unknown service type 'spa'" in only(
        problems, "row 4 (mx-tapachula-a): field 'types' (column #service+type): "
    )
    assert only(
        problems, "row 4 (mx-tapachula-a): field 'description' (column #description)"
    ).endswith("missing translation: pt")
    assert only(
        problems, "row 4 (mx-tapachula-a): field 'id' (column #service+id): "
    ).endswith("duplicate of row 3")


def test_bad_csv_still_gives_yaml_with_what_was_typed(bad_csv):
    first, second = services(convert(bad_csv)[0])
    assert first["latitude"] == "abc"
    assert first["opening_hours"] == "whenever"
    assert second["types"] == ["first_aid", "spa"]
    assert second["description"]["pt"] == ""


def test_rows_are_counted_without_a_header_row(tmp_path):
    rows = good_rows()
    set_cell(rows, 0, "#geo+lat", "abc")
    tags_first = rows[1:]  # the hashtag row is now spreadsheet row 1
    _, problems, _ = convert(write_csv(tmp_path / "tags_only.csv", tags_first))
    assert problems == [
        "row 2 (mx-tapachula-a): field 'latitude' (column #geo+lat): "
        "must be a number, not 'abc'"
    ]


# --- layout of the spreadsheet --------------------------------------------------------


def test_columns_in_another_order_import_the_same(tmp_path):
    rows = good_rows()
    order = list(range(len(rows[0])))[::-1]
    order[0], order[5] = order[5], order[0]
    shuffled = [[row[i] for i in order] for row in rows]
    assert shuffled[1] != rows[1]
    text, problems, count = convert(write_csv(tmp_path / "shuffled.csv", shuffled))
    assert problems == []
    assert count == 2
    assert services(text) == services(convert(GOOD)[0])


def test_headers_do_not_matter_only_hashtags(tmp_path):
    rows = good_rows()
    rows[0] = [f"Column {i}" for i in range(len(rows[0]))]
    text, problems, _ = convert(write_csv(tmp_path / "headers.csv", rows))
    assert problems == []
    assert services(text) == services(convert(GOOD)[0])


@pytest.mark.parametrize("tag", ["#geo+lat", "#description+i_pt", "#service+hours"])
def test_missing_hashtag_column_is_named(tmp_path, tag):
    path = write_csv(tmp_path / "missing.csv", drop_column(good_rows(), tag))
    with pytest.raises(
        SpreadsheetError, match=re.escape(f"no column tagged {tag} (found: ")
    ):
        convert(path)


def test_no_hashtag_row_is_unreadable(tmp_path):
    rows = good_rows()
    path = write_csv(tmp_path / "plain.csv", [rows[0], *rows[2:]])
    with pytest.raises(SpreadsheetError, match="cannot read it as an HXL spreadsheet"):
        convert(path)


def test_missing_spreadsheet_is_unreadable(tmp_path):
    with pytest.raises(SpreadsheetError, match=re.escape("nowhere.csv")):
        read_rows(tmp_path / "nowhere.csv")


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(tmp_path):
    rows = good_rows()
    width = len(rows[0])
    blank = ["" for _ in range(width)]
    spaces = [" " for _ in range(width)]
    spaced = [rows[0], rows[1], blank, rows[2], [], spaces, rows[3], blank]
    entries, numbers = read_rows(write_csv(tmp_path / "blank.csv", spaced))
    assert [e["id"] for e in entries] == ["mx-tapachula-a", "co-cucuta-b"]
    assert numbers == [4, 7]
    text, problems, count = convert(tmp_path / "blank.csv")
    assert (problems, count) == ([], 2)
    assert services(text) == services(convert(GOOD)[0])


def test_row_numbers_after_blank_rows_match_the_spreadsheet(tmp_path):
    rows = good_rows()
    set_cell(rows, 1, "#country+code", "xx")
    spaced = [rows[0], rows[1], rows[2], [], [], rows[3]]
    _, problems, _ = convert(write_csv(tmp_path / "blank.csv", spaced))
    assert len(problems) == 1
    assert problems[0].startswith(
        "row 6 (co-cucuta-b): field 'country' (column #country+code): "
        "unknown country 'XX'"
    )


def test_only_headers_is_reported_as_empty(tmp_path):
    path = write_csv(tmp_path / "empty.csv", good_rows()[:2])
    _, problems, count = convert(path)
    assert count == 0
    assert problems == ["'services' must be a non-empty list of entries"]


# --- the command line -----------------------------------------------------------------


def test_main_writes_the_catalog_for_a_good_csv(tmp_path, capsys):
    out = tmp_path / "var" / "catalog.yml"
    assert main([str(GOOD), "-o", str(out)]) == 0
    assert len(load_catalog(out)) == 2
    stdout, stderr = capsys.readouterr()
    assert "2 rows" in stdout
    assert "valid" in stdout
    assert stderr == ""


def test_main_reports_problems_and_still_writes(tmp_path, bad_csv, capsys):
    out = tmp_path / "catalog.yml"
    assert main([str(bad_csv), "-o", str(out)]) == 1
    assert [e["id"] for e in services(out.read_text(encoding="utf-8"))] == [
        "mx-tapachula-a",
        "mx-tapachula-a",
    ]
    stderr = capsys.readouterr().err
    assert "5 problem(s) to fix before using it" in stderr
    assert "  - row 3 (mx-tapachula-a): field 'latitude' (column #geo+lat)" in stderr
    assert "  - row 4 (mx-tapachula-a): field 'id' (column #service+id)" in stderr


def test_main_refuses_an_unreadable_spreadsheet(tmp_path, capsys):
    rows = good_rows()
    plain = write_csv(tmp_path / "plain.csv", [rows[0], *rows[2:]])
    out = tmp_path / "catalog.yml"
    assert main([str(plain), "-o", str(out)]) == 2
    assert not out.exists()
    assert "cannot read it as an HXL spreadsheet" in capsys.readouterr().err


def test_main_names_a_missing_column(tmp_path, capsys):
    path = write_csv(tmp_path / "nolat.csv", drop_column(good_rows(), "#geo+lat"))
    assert main([str(path), "-o", str(tmp_path / "catalog.yml")]) == 2
    assert "no column tagged #geo+lat" in capsys.readouterr().err


# --- XLSX -----------------------------------------------------------------------------

# openpyxl is not a dependency of the project, so the test writes the few XML parts of
# a workbook itself (libhxl reads them with xlrd3). Dates are day numbers with a date
# format, as Excel stores them.
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML = '<?xml version="1.0" encoding="UTF-8"?>'


def _column_letter(index):
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref, value):
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="1"><v>{(value - dt.date(1899, 12, 30)).days}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def write_xlsx(path, rows):
    sheet = "".join(
        f'<row r="{r}">'
        + "".join(
            _cell(f"{_column_letter(c)}{r}", value)
            for c, value in enumerate(row)
            if value != ""
        )
        + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main'
            '+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{_TYPE}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}"><sheets>'
            '<sheet name="Services" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_DOC}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_DOC}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{_MAIN}"><fonts count="1"><font/></fonts>'
            '<fills count="1"><fill/></fills><borders count="1"><border/></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" xfId="0"/>'
            '<xf numFmtId="14" xfId="0" applyNumberFormat="1"/></cellXfs>'
            "</styleSheet>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{_MAIN}"><sheetData>{sheet}</sheetData></worksheet>'
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as workbook:
        for name, text in parts.items():
            workbook.writestr(name, _XML + text)
    return path


def test_xlsx_with_text_cells_converts_like_the_csv(tmp_path):
    path = write_xlsx(tmp_path / "services.xlsx", good_rows())
    text, problems, count = convert(path)
    assert (problems, count) == ([], 2)
    assert text.startswith("# Imported from services.xlsx")
    assert services(text) == services(convert(GOOD)[0])
    assert read_rows(path)[1] == [3, 4]


def test_xlsx_with_number_and_date_cells_converts_like_the_csv(tmp_path):
    rows = good_rows()
    tags = rows[1]
    for row in rows[2:]:
        for tag in ("#geo+lat", "#geo+lon"):
            row[tags.index(tag)] = float(row[tags.index(tag)].replace(",", "."))
        verified = tags.index("#date+verified")
        row[verified] = dt.date.fromisoformat(row[verified])
        for tag in ("#service+free", "#service+any_status"):
            if row[tags.index(tag)] == "1":
                row[tags.index(tag)] = 1
    path = write_xlsx(tmp_path / "typed.xlsx", rows)
    text, problems, count = convert(path)
    assert (problems, count) == ([], 2)
    assert services(text) == services(convert(GOOD)[0])


def test_xlsx_problems_name_the_row(tmp_path):
    rows = good_rows()
    set_cell(rows, 1, "#geo+lon", "west")
    path = write_xlsx(tmp_path / "bad.xlsx", rows)
    assert convert(path)[1] == [
        "row 4 (co-cucuta-b): field 'longitude' (column #geo+lon): "
        "must be a number, not 'west'"
    ]


def test_alpha3_country_codes_from_hdx_are_understood(tmp_path):
    source = Path(__file__).with_name("data") / "services_hxl.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",mx,", ",MEX,")
    lines[3] = lines[3].replace(",CO,", ",col,")
    path = tmp_path / "alpha3.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text, problems, count = convert(path)
    assert problems == [] and count == 2
    countries = [e["country"] for e in yaml.safe_load(text)["services"]]
    assert countries == ["MX", "CO"]
