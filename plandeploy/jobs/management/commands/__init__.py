"""plandeploy manage commands for the jobs."""
