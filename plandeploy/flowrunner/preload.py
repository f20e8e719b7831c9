"""Imported once by the forkserver so each run process starts warm (CumulusCI loaded)."""

import gc
import logging

import yaml

# CumulusCI parses every project's cumulusci.yml with yaml.safe_load, PyYAML's pure-Python
# parser: ~20 ms of each run's start. libyaml's loader builds the same data in a fraction.
if getattr(yaml, "__with_libyaml__", False):

    def _libyaml_safe_load(stream):
        return yaml.load(stream, Loader=yaml.CSafeLoader)  # noqa: S506 - CSafeLoader is safe

    yaml.safe_load = _libyaml_safe_load

import cumulusci.core.flowrunner  # noqa: F401  -- ~0.4 s and ~64 MB: paid once, shared by fork
import cumulusci.tasks.command  # noqa: F401  -- the built-in step class plans use most
from cumulusci.core.config import UniversalConfig

import plandeploy.flowrunner.project_process  # noqa: F401  -- and the run process's code

# Parses CumulusCI's universal cumulusci.yml and caches it on the class for all children.
UniversalConfig()

# A run's log handler keeps only each record's message: CumulusCI logs dozens of lines per
# step, and finding each record's source line (a stack walk), thread and process names was
# a tenth of a short run's CPU.
logging._srcfile = None
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

# No django.setup(): run processes never touch the database, and without Django the
# forkserver is ~30 MB smaller, which makes every fork (and every run's exit) cheaper.

# Every run process is forked from here: move what is loaded into the permanent generation,
# so a child's garbage collections never walk (and copy-on-write) the shared objects.
gc.collect()
gc.freeze()
