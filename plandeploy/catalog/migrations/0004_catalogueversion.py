"""The catalogue version row and the triggers that change it with every catalogue write."""

from django.db import migrations, models

# Every catalogue table a representation is built from. ClickThroughAgreement is left out:
# a row is written with each job (a snapshot of the accepted text) and is read by nobody
# who caches. A new catalogue table needs its trigger in a migration of its own (the test
# test_every_catalogue_table_changes_the_version names the missing ones).
TABLES = [
    "catalog_allowedlist", "catalog_allowedlistorg",
    "catalog_siteprofile", "catalog_siteprofile_translation",
    "catalog_productcategory", "catalog_productcategory_translation",
    "catalog_product", "catalog_product_translation", "catalog_productslug",
    "catalog_version", "catalog_version_translation",
    "catalog_plantemplate", "catalog_plantemplate_translation", "catalog_planslug",
    "catalog_plan", "catalog_plan_translation",
    "catalog_step", "catalog_step_translation",
]

# A sequence of its own (owned by no table, so no TRUNCATE ... RESTART IDENTITY resets it):
# every statement that writes the catalogue gets a value nobody has seen, even one later in
# the same transaction. The row that holds it is transactional, so other sessions see the new
# value exactly when they see the change. An upsert, because a reset (TRUNCATE of every table)
# removes the row.
FUNCTION = """
CREATE SEQUENCE IF NOT EXISTS catalog_version_seq;
CREATE OR REPLACE FUNCTION catalog_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_catalogueversion (id, version) VALUES (1, nextval('catalog_version_seq'))
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END $$;
"""


def create_triggers(apps, schema_editor):
    schema_editor.execute(FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_bumps_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION catalog_bump_version()"
        )
    schema_editor.execute(
        "INSERT INTO catalog_catalogueversion (id, version) "
        "VALUES (1, nextval('catalog_version_seq')) ON CONFLICT (id) DO NOTHING"
    )


def drop_triggers(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_bumps_version ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS catalog_bump_version()")
    schema_editor.execute("DROP SEQUENCE IF EXISTS catalog_version_seq")


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0003_derive_missing_slugs"),
    ]

    operations = [
        migrations.CreateModel(
            name="CatalogueVersion",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True,
                                                        serialize=False)),
                ("version", models.BigIntegerField()),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(("id", 1)),
                                                       name="one_catalogue_version")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
