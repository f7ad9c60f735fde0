-- (Postgres notifies nodes of configuration changes with a trigger; SQLite serves one node,
-- which polls the configuration generation. Nothing to change here; the migration keeps the
-- two folders numbered alike.)
SELECT 1;
