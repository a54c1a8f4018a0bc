"""Getting log rows into the database: parsers, the store, file import and the Log Analytics pull."""
