"""Saved message templates in a real SQLite file: saved, replaced, removed, listed by name, and an
unknown name answered with the closest names and where to see them all."""

from bot.storage.db import Database
from bot.storage.templates import TemplateStore


def test_saving_says_whether_the_template_is_new_and_keeps_the_latest_text(db):
    store = TemplateStore(db)
    assert store.save("outage", "We are down, fixing it.", "U0ANN", 1.0) is True
    assert store.save("outage", "We are down; next update at 14:00.", "U0BEN", 2.0) is False
    row = store.get("outage")
    assert row["text"] == "We are down; next update at 14:00." and row["created_by"] == "U0BEN"
    assert len(store.all()) == 1


def test_templates_are_listed_by_name_and_kept_across_a_restart(tmp_path):
    path = str(tmp_path / "smsbot.db")
    db = Database(path)
    db.migrate()
    for name in ("restored", "outage", "maintenance"):
        TemplateStore(db).save(name, f"{name} text", "U0ANN", 1.0)
    db.close()
    db = Database(path)
    try:
        assert [row["name"] for row in TemplateStore(db).all()] == ["maintenance", "outage", "restored"]
    finally:
        db.close()


def test_remove_says_whether_there_was_one(db):
    store = TemplateStore(db)
    store.save("outage", "Down", "U0ANN", 1.0)
    assert store.remove("outage") is True and store.remove("outage") is False
    assert store.get("outage") is None and store.all() == []


def test_an_unknown_name_suggests_the_closest_and_says_how_to_list_them(db):
    store = TemplateStore(db)
    store.save("outage", "Down", "U0ANN", 1.0)
    store.save("restored", "Up", "U0ANN", 1.0)
    text = store.unknown("outgae")
    assert "‘outgae’" in text and "Did you mean `outage`?" in text and "/sms template list" in text
    assert "Did you mean" not in store.unknown("zzz") and "/sms template list" in store.unknown("zzz")
