"""The SQLite file and the tables it holds; one module owns each table's state changes."""
