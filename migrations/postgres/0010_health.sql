-- One row a node writes to when asked whether it is ready: a database that can be read but
-- not written (a full disk) is not ready.
CREATE TABLE node_health (
    id INTEGER PRIMARY KEY,
    checked_at BIGINT NOT NULL
);
INSERT INTO node_health (id, checked_at) VALUES (1, 0);
