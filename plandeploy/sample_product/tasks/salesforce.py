"""Sample task for a `salesforce` org: a record written and read back through the org's REST
API, with CumulusCI's own client (`self.sf`, simple_salesforce on the run's access token)."""

from cumulusci.tasks.salesforce import BaseSalesforceApiTask

from tasks.base import SampleTaskError


class RecordRoundTrip(BaseSalesforceApiTask):
    """Insert one record (an Account by default) and read it back by its id."""

    task_options = {
        "object": {"description": "The sObject to insert (default Account)"},
        "name": {"description": "The record's Name (default: plandeploy sample record)"},
    }

    def _run_task(self) -> None:
        sobject = str(self.options.get("object") or "Account")
        name = str(self.options.get("name") or "plandeploy sample record")
        api = getattr(self.sf, sobject)
        created = api.create({"Name": name})
        record = api.get(created["id"])
        if record.get("Name") != name:
            raise SampleTaskError(f"{sobject} {created['id']} read back as {record.get('Name')!r}")
        self.logger.info(f"Created {sobject} {created['id']} and read it back: {record['Name']}")
        self.return_values = {"id": created["id"], "name": record["Name"]}
