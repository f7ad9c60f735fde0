//! Unit tests of the grant rules on a node's services (SQLite file, in-memory store).
