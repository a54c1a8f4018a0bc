"""import_logs and the bytes of real files: encodings, bytes that are not text, rows too large, cut rows.

Every row read is accounted for (stored + duplicates + conflicts + skipped + rejected), and one bad
row never costs the rows after it.
"""

import codecs
import csv
import gzip
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from usage.demo.data import generate_logs
from usage.ingestion import json_stream
from usage.ingestion.file_text import TOO_LARGE, TRUNCATED
from usage.ingestion.files import logs_file_import
from usage.ingestion.tables import GATEWAY
from usage.models import GatewayRequest, RejectedRow

START = datetime(2026, 11, 3, 14, tzinfo=UTC)


@pytest.fixture(scope="module")
def rows():
    logs = generate_logs(
        start=START, end=START.replace(hour=15), requests_per_hour=25, seed=3, malformed=False
    )
    return [{"Type": GATEWAY, **row} for row in logs[GATEWAY]]


def _accounted(result) -> bool:
    total = result.stored + result.duplicates + result.conflicts + result.skipped + result.rejected
    return result.rows_read == total


def _jsonl(rows) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _csv(rows) -> str:
    columns = sorted({column for row in rows for column in row})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


@pytest.mark.parametrize(
    "name, data",
    [
        ("utf8-bom", lambda text: codecs.BOM_UTF8 + text.encode()),
        ("utf16-le-bom", lambda text: text.encode("utf-16")),  # Python writes a BOM (little-endian here)
        ("utf16-be-bom", lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be")),
        ("utf16-le-no-bom", lambda text: text.encode("utf-16-le")),
        ("utf16-gzip", lambda text: gzip.compress(text.encode("utf-16"))),
    ],
)
@pytest.mark.parametrize("kind", ["jsonl", "csv", "az-json"])
def test_utf8_with_a_bom_and_utf16_files_import_completely(db, tmp_path, rows, name, data, kind):
    sample = [dict(row) for row in rows[:5]]
    sample[0]["UserId"] = "josé-日本-🚀"
    text = {"jsonl": _jsonl, "csv": _csv, "az-json": lambda r: json.dumps(r, ensure_ascii=False)}[kind](
        sample
    )
    path = tmp_path / f"{name}.{kind}"
    path.write_bytes(data(text))
    result = logs_file_import(path=path)
    assert (result.error, result.format, result.stored, result.rejected) == ("", kind, 5, 0)
    assert result.encoding == ("UTF-8" if name.startswith("utf8") else "UTF-16")
    assert GatewayRequest.objects.filter(user_id="josé-日本-🚀").count() == 1


def test_a_latin1_byte_after_the_first_64_kib_rejects_that_row_only(db, tmp_path, rows):
    sample = [dict(row) for row in rows[:20]]
    sample[-1]["UserId"] = "josé"
    data = _jsonl(sample).encode("latin-1")
    assert data.index(b"jos\xe9") > 64 << 10
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(data)

    result = logs_file_import(path=path)
    assert (result.stored, result.rejected, result.error) == (19, 1, "")
    assert _accounted(result)
    assert result.reasons == {"invalid UTF-8 bytes": 1}
    rejected = RejectedRow.objects.get()
    assert "line 20" in rejected.reason and "--encoding" in rejected.reason
    assert '"UserId": "jos\\xe9"' in rejected.raw  # the byte shown, not replaced
    assert not GatewayRequest.objects.filter(user_id__startswith="jos").exists()

    # Known to be Latin-1: the same file, every row, the name as written.
    result = logs_file_import(path=path, encoding="latin-1")
    assert (result.stored, result.duplicates, result.rejected, result.error) == (1, 19, 0, "")
    assert GatewayRequest.objects.get(user_id="josé")


def test_invalid_bytes_in_a_csv_row_and_a_utf16_row_are_rejected_as_such(db, tmp_path, rows):
    sample = [dict(row) for row in rows[:8]]
    sample[1]["UserId"] = sample[5]["UserId"] = "PLACEHOLDER"
    data = _csv(sample[:4]).encode().replace(b"PLACEHOLDER", b"car\xffol")
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    result = logs_file_import(path=path)
    assert (result.stored, result.rejected, result.reasons) == (3, 1, {"invalid UTF-8 bytes": 1})
    assert "car\\xffol" in RejectedRow.objects.get().raw

    # UTF-16: a lone surrogate (two bytes) in the second row.
    data = _jsonl(sample[4:]).encode("utf-16-le").replace("PLACEHOLDER".encode("utf-16-le"), b"\x00\xd8")
    path = tmp_path / "bad16.jsonl"
    path.write_bytes(codecs.BOM_UTF16_LE + data)
    result = logs_file_import(path=path)
    assert (result.stored, result.rejected, result.reasons, result.error) == (
        3,
        1,
        {"invalid UTF-16 bytes": 1},
        "",
    )
    assert "\\x00\\xd8" in RejectedRow.objects.get(reason__startswith="invalid UTF-16").raw


def test_the_row_size_cap_applies_to_every_format(db, tmp_path, rows, settings, monkeypatch):
    settings.INGEST_MAX_ROW_SIZE = 30_000
    monkeypatch.setattr(json_stream, "_READ_CHUNK", 4096)  # the big row spans many reads
    big = dict(rows[0], CorrelationId="big-one")
    # Braces, brackets, quotes and backslashes inside the string must not end the row early.
    big["RequestBody"] = json.dumps({"messages": [{"content": 'x}]"\\{[' * 12_000}]})
    sample = [rows[1], big, rows[2]]
    files = {
        "big.jsonl": _jsonl(sample),
        "big.json": json.dumps(sample),
        "big-records.json": json.dumps({"records": sample}),
        "big.csv": _csv(sample),
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        result = logs_file_import(path=path)
        assert (result.rows_read, result.rejected, result.error) == (3, 1, ""), name
        assert result.stored + result.duplicates == 2 and _accounted(result), name
        assert result.reasons == {TOO_LARGE: 1}, name
    raws = RejectedRow.objects.filter(reason__startswith=TOO_LARGE)
    assert raws.count() == 4
    for rejected in raws:
        assert "characters (the limit is 30,000)" in rejected.reason
        assert len(rejected.raw) < 5_000 and "characters in all" in rejected.raw
    assert not GatewayRequest.objects.filter(correlation_id="big-one").exists()
    assert GatewayRequest.objects.count() == 2


def test_a_cut_last_row_is_rejected_and_counted_in_every_format(db, tmp_path, rows):
    sample = rows[:3]
    cuts = {
        "cut.jsonl": _jsonl(sample).rstrip("\n")[:-50],
        # Inside the last row's quoted JSON body (a cut in its last, unquoted field would look like
        # a file without a final line end: that row is stored).
        "cut.csv": _csv(sample)[: _csv(sample).rindex('""messages""') + 20],
        "cut.json": json.dumps(sample)[:-50],
    }
    for name, text in cuts.items():
        path = tmp_path / name
        path.write_text(text)
        result = logs_file_import(path=path)
        assert (result.rows_read, result.stored + result.duplicates, result.rejected) == (3, 2, 1), name
        assert result.reasons == {TRUNCATED: 1}, name
        assert _accounted(result), name
    assert RejectedRow.objects.filter(reason__startswith=TRUNCATED).count() == 3


def test_import_logs_takes_an_encoding_and_refuses_an_unknown_one(db, tmp_path, rows, capsys):
    sample = [dict(rows[0], UserId="Müller")]
    path = tmp_path / "cp1252.jsonl"
    path.write_bytes(_jsonl(sample).encode("cp1252"))
    call_command("import_logs", str(path), "--encoding", "cp1252")
    assert GatewayRequest.objects.get().user_id == "Müller"
    with pytest.raises(CommandError, match="unknown encoding 'klingon'"):
        call_command("import_logs", str(path), "--encoding", "klingon")


def test_a_binary_file_is_still_refused(db, tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 50)
    result = logs_file_import(path=path)
    assert "not a text file" in result.error
