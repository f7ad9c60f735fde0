-- Every change to cached configuration bumps config_generation; on Postgres the bump also
-- notifies (delivered at commit) so that every node drops its cache at once instead of at its
-- next poll. The poll stays as the fallback for lost connections.
CREATE OR REPLACE FUNCTION gatehouse_config_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('gatehouse_config', NEW.value::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER config_generation_notify AFTER UPDATE ON config_generation
    FOR EACH ROW EXECUTE FUNCTION gatehouse_config_changed();
