"""Tasks of the plandeploy sample product, loaded via CumulusCI's synthetic `tasks` package."""
