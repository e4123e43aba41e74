"""The suite's own guard (tests/conftest.py): a test that leaves a SQLite connection or a thread open fails."""

import pathlib
import threading

pytest_plugins = ["pytester"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
RELEASE = threading.Event()  # lets the inner test's forgotten thread end once it has been seen


def run_inner(pytester, body: str):
    pytester.syspathinsert(str(ROOT))
    pytester.makeconftest("from tests.conftest import nothing_left_open  # noqa: F401\n")
    pytester.makepyfile(body)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider")


def test_a_connection_left_open_fails_the_test_and_says_where_it_was_opened(pytester):
    result = run_inner(
        pytester,
        """
        import sqlite3

        def test_forgets_to_close(tmp_path):
            sqlite3.connect(str(tmp_path / "x.db")).execute("SELECT 1")

        def test_closes(tmp_path):
            conn = sqlite3.connect(str(tmp_path / "x.db"))
            conn.close()
    """,
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*left open after the test*", "*SQLite connection opened at*test_forgets_to_close*"])


def test_a_thread_left_running_fails_the_test_and_is_named(pytester, monkeypatch):
    monkeypatch.setattr("tests.conftest.LEAK_GRACE_SECONDS", 0.2)  # the inner run's wait; keeps this quick
    try:
        result = run_inner(
            pytester,
            f"""
            import importlib
            import threading

            def test_starts_and_forgets():
                release = importlib.import_module("{__name__}").RELEASE
                threading.Thread(target=release.wait, name="forgotten", daemon=True).start()

            def test_starts_and_joins():
                t = threading.Thread(target=lambda: None, name="joined")
                t.start()
                t.join()
        """,
        )
    finally:
        RELEASE.set()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*left open after the test*", "*thread 'forgotten' (daemon, running *"])
