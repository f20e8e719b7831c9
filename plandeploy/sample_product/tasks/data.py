"""Sample task that loads records into a `local` org's data directory."""

from tasks.base import WorkspaceTask


class LoadData(WorkspaceTask):
    """Write `count` generated records (or the given `records`) for one object."""

    task_options = {
        **WorkspaceTask.task_options,
        "object": {"description": "Object name (default Account)"},
        "count": {"description": "Number of records to generate (default 3)"},
        "records": {"description": "Explicit list of records; overrides count"},
    }

    def _act(self) -> None:
        obj = str(self.options.get("object") or "Account")
        records = self.options.get("records")
        if not records:
            count = int(self.options.get("count") or 3)
            records = [{"Name": f"{obj} {i + 1}"} for i in range(count)]
        for record in records:
            # One log line per record: large loads are how log batching gets exercised.
            self.logger.info(f"Loaded {obj} record {record.get('Name')}")
        existing = self.read_json(f"data/{obj}.json", [])
        self.write_json(f"data/{obj}.json", existing + list(records))
        self.return_values = {"object": obj, "loaded": len(records)}
