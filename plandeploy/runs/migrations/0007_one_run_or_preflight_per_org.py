"""At most one plan run or preflight `started` per org, enforced by the database for both kinds.

A unique index covers two plan runs; a run and a preflight live in two tables, so a trigger
on each takes the org's transaction advisory lock (the key request admission uses) and then
looks at the other kind, raising SQLSTATE 23B01 when it is busy. Under READ COMMITTED each
statement of the trigger sees what committed before the lock was granted, so two concurrent
creations for one org cannot both pass.
"""

from django.db import migrations, models

FUNCTION = """
CREATE FUNCTION runs_org_one_run_at_a_time() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    other_job bigint;
    other_preflight bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status
       AND OLD.org_id IS NOT DISTINCT FROM NEW.org_id THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('org:' || NEW.org_id));
    SELECT id INTO other_job FROM runs_job
     WHERE org_id = NEW.org_id AND status = 'started'
       AND (TG_TABLE_NAME <> 'runs_job' OR id <> NEW.id)
     LIMIT 1;
    -- Two plan runs are the unique index's to refuse (job_one_running_per_org).
    IF other_job IS NOT NULL AND TG_TABLE_NAME <> 'runs_job' THEN
        RAISE EXCEPTION 'a plan run is started on org %', NEW.org_id
              USING ERRCODE = '23B01', DETAIL = 'job ' || other_job;
    END IF;
    SELECT id INTO other_preflight FROM runs_preflightresult
     WHERE org_id = NEW.org_id AND status = 'started'
       AND (TG_TABLE_NAME <> 'runs_preflightresult' OR id <> NEW.id)
     LIMIT 1;
    IF other_preflight IS NOT NULL THEN
        RAISE EXCEPTION 'a preflight is started on org %', NEW.org_id
              USING ERRCODE = '23B01', DETAIL = 'preflight ' || other_preflight;
    END IF;
    RETURN NEW;
END $$;
"""

TRIGGER = """
CREATE TRIGGER {table}_org_one_run_at_a_time
BEFORE INSERT OR UPDATE OF status, org_id ON {table}
FOR EACH ROW WHEN (NEW.status = 'started' AND NEW.org_id IS NOT NULL)
EXECUTE FUNCTION runs_org_one_run_at_a_time();
"""

TABLES = ("runs_job", "runs_preflightresult")


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0006_shared_directory"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="preflightresult",
            index=models.Index(
                condition=models.Q(("status", "started")),
                fields=["org_id"],
                name="preflight_org_started",
            ),
        ),
        migrations.RunSQL(
            FUNCTION + "".join(TRIGGER.format(table=table) for table in TABLES),
            "".join(f"DROP TRIGGER {table}_org_one_run_at_a_time ON {table};" for table in TABLES)
            + "DROP FUNCTION runs_org_one_run_at_a_time();",
        ),
    ]
