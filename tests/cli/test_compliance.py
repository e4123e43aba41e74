"""`smsbot optout import FILE` and `smsbot optout export`: all rows good or nothing imported; `smsbot vacuum`:
the one full VACUUM that turns on auto_vacuum=INCREMENTAL, after which the retention job gives freed pages
back to the disk."""

import sqlite3

import pytest

from bot.cli.main import main
from bot.storage.db import Database
from bot.storage.optouts import OptOuts
from bot.storage.retention import Retention


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSBOT_DB", str(tmp_path / "smsbot.db"))
    monkeypatch.delenv("SMS_DEFAULT_REGION", raising=False)
    return tmp_path


def listed(path) -> dict:
    db = Database(str(path / "smsbot.db"))
    try:
        db.migrate()
        return {e.number: e.reason for e in OptOuts(db).entries()}
    finally:
        db.close()


def test_a_suppression_list_with_a_header_and_reasons_is_imported_normalised(env, capsys):
    (env / "list.csv").write_bytes(
        '\ufeffPhone,Reason\n+27 83 123 4567,asked by email\n0027821234567\n27841234567,"stop, please"\n\n'.encode()
    )
    assert main(["optout", "import", "list.csv"]) == 0
    assert "3 number(s) added" in capsys.readouterr().out
    assert listed(env) == {"27831234567": "asked by email", "27821234567": None, "27841234567": "stop, please"}
    db = Database(str(env / "smsbot.db"))
    try:
        (entry,) = db.conn.execute("SELECT user_id, action, args FROM audit_log").fetchall()
        assert entry[0].startswith("cli:") and entry[1] == "optout import" and "3 added" in entry[2]
    finally:
        db.close()


def test_bad_rows_are_listed_and_nothing_is_imported(env, capsys):
    (env / "list.csv").write_text("27831234567,ok\nnot-a-number\n27821234567,a,b\n0831234567\n")
    assert main(["optout", "import", "list.csv"]) == 1
    err = capsys.readouterr().err
    assert "nothing was imported" in err and "row 2:" in err and "row 3: 3 columns" in err and "row 4:" in err
    assert "row 1" not in err
    assert listed(env) == {}


def test_a_local_number_is_read_in_sms_default_region(env, capsys, monkeypatch):
    monkeypatch.setenv("SMS_DEFAULT_REGION", "ZA")
    (env / "list.csv").write_text("0831234567\n")
    assert main(["optout", "import", "list.csv"]) == 0
    assert listed(env) == {"27831234567": None}


def test_export_writes_the_list_as_csv_a_spreadsheet_reads_safely(env, capsys):
    (env / "list.csv").write_text('27831234567,=HYPERLINK("x")\n27821234567,moved away\n')
    assert main(["optout", "import", "list.csv"]) == 0
    capsys.readouterr()
    assert main(["optout", "export", "--out", "out.csv"]) == 0
    data = (env / "out.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").split("\r\n") == [
        "number,reason",
        "27821234567,moved away",
        '27831234567,"\'=HYPERLINK(""x"")"',
        "",
    ]
    # and it imports back unchanged
    (env / "smsbot.db").unlink()
    assert main(["optout", "import", "out.csv"]) == 0
    assert set(listed(env)) == {"27831234567", "27821234567"}


def test_vacuum_turns_on_incremental_auto_vacuum_and_shrinks_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "smsbot.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSBOT_DB", str(path))
    db = Database(str(path))
    db.migrate()
    with db.transaction() as conn:
        conn.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", [(f"k{i}", "x" * 2000) for i in range(500)])
    with db.transaction() as conn:
        conn.execute("DELETE FROM kv WHERE key LIKE 'k%'")
    db.close()
    big = path.stat().st_size
    assert main(["vacuum"]) == 0
    assert "auto_vacuum is now INCREMENTAL" in capsys.readouterr().out
    assert path.stat().st_size < big / 2
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    finally:
        conn.close()
    # from now on, space freed by deletes goes back to the disk with the retention job
    db = Database(str(path))
    with db.transaction() as conn:
        conn.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", [(f"k{i}", "x" * 2000) for i in range(500)])
    with db.transaction() as conn:
        conn.execute("DELETE FROM kv WHERE key LIKE 'k%'")
    assert db.conn.execute("PRAGMA freelist_count").fetchone()[0] > 100
    Retention(db, 365).run_all(0.0)
    assert db.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    db.close()
    assert main(["vacuum"]) == 0 and "already INCREMENTAL" in capsys.readouterr().out


def test_vacuum_without_a_database_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSBOT_DB", str(tmp_path / "missing.db"))
    assert main(["vacuum"]) == 2
    assert "missing.db" in capsys.readouterr().err and not (tmp_path / "missing.db").exists()
