"""Products, versions, plans and steps that admins publish."""
