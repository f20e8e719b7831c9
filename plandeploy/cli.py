"""The `plandeploy` command: up, web, worker, demo, db and manage."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile

from plandeploy import bootstrap, embedded_db
from plandeploy.bootstrap import CommandError, home, prepare_database, say, setup_django

# The name cmd_worker calls.
_setup_django = setup_django

DEFAULT_HOST = bootstrap.DEFAULT_HOST
DEFAULT_PORT = bootstrap.DEFAULT_PORT


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}. "
                "Is another server running there? Choose another with --port."
            ) from None


def cmd_up(args: argparse.Namespace) -> int:
    _check_port_free(args.host, args.port)
    bootstrap.start(verbose_migrate=True)
    from django.conf import settings

    from plandeploy.supervisor import Service, supervise

    base = [sys.executable, "-m", "plandeploy.cli"]
    worker = [*base, "worker"]
    if args.concurrency is not None:
        worker += ["--concurrency", str(args.concurrency)]
    if args.short_concurrency is not None:
        worker += ["--short-concurrency", str(args.short_concurrency)]
    services = [
        Service("web", [*base, "web", "--host", args.host, "--port", str(args.port)]),
        Service("worker", worker),
    ]
    for service in services:
        service.start()
    url = f"http://{args.host}:{args.port}"
    say(f"web on {url}/ (API {url}/api/, admin {url}/admin/, readiness {url}/readyz)")
    say("worker on queues default and short (each with slots of its own)")
    say("create an admin user with: plandeploy manage createsuperuser")
    say("press Ctrl-C to stop")
    return supervise(services, say, stop_grace=settings.SHUTDOWN_GRACE_SECONDS + 10)


def cmd_web(args: argparse.Namespace) -> int:
    _check_port_free(args.host, args.port)
    # Each of the server's request threads keeps its database connection: a new one per
    # request (CONN_MAX_AGE=0) costs more than most of our views.
    os.environ.setdefault("CONN_MAX_AGE", "300")
    setup_django()
    prepare_database(progress=False)
    bootstrap.check_shared_storage()
    import uvicorn
    from django.conf import settings

    from plandeploy.live.stats import STATS_DIR_VARIABLE

    workers = _given_or(args.workers, settings.WEB_WORKERS) or os.cpu_count() or 1
    # The worker processes keep their live-update counters here, so that /metrics, answered
    # by any one of them, sums all of them (this server's only; removed when it stops).
    stats_dir = tempfile.mkdtemp(prefix="plandeploy-web-stats-")
    os.environ[STATS_DIR_VARIABLE] = stats_dir
    try:
        uvicorn.run(
            "plandeploy.asgi:application",
            host=args.host,
            port=args.port,
            workers=workers,
            # httptools and uvloop (uvicorn's `standard` extras), named so that a missing
            # one fails at start-up instead of silently serving at a fraction of the speed.
            http="httptools",
            loop="uvloop",
            lifespan="off",
            log_level=os.environ.get("WEB_LOG_LEVEL", "warning"),
            access_log=False,
            # Only these proxies' X-Forwarded-For/-Proto are believed (client address, https).
            proxy_headers=True,
            forwarded_allow_ips=",".join(settings.TRUSTED_PROXIES),
        )
    finally:
        shutil.rmtree(stats_dir, ignore_errors=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    # procrastinate closes a task's connection afterwards unless it may persist: with
    # CONN_MAX_AGE=0 every job would open a new one (~5 ms) before doing anything.
    os.environ.setdefault("CONN_MAX_AGE", "300")
    _setup_django()
    prepare_database(progress=False)
    bootstrap.check_shared_storage()
    from django.conf import settings

    from plandeploy import queue, taskdefs
    from plandeploy.runs.execution.runner import start_runner, stop_runner

    queues = [name.strip() for name in args.queues.split(",") if name.strip()]
    concurrency = _given_or(args.concurrency, settings.WORKER_CONCURRENCY)
    short_concurrency = _given_or(args.short_concurrency, settings.SHORT_WORKER_CONCURRENCY)
    if min(concurrency, short_concurrency) < 1:
        raise CommandError("a worker's concurrency (and short concurrency) must be at least 1")
    runs_flows = taskdefs.run_flows_job.queue in queues
    if runs_flows:
        # The warm forkserver for plan runs starts before the worker's threads do.
        start_runner()
    try:
        queue.run_worker(queues=queues, concurrency=concurrency,
                         short_concurrency=short_concurrency, name=args.name)
    finally:
        if runs_flows:
            stop_runner()
    return 0


def _given_or(value: int | None, default: int) -> int:
    return default if value is None else value


def cmd_manage(args: argparse.Namespace) -> int:
    setup_django()
    prepare_database(progress=True)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["plandeploy manage", *args.rest])
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    if os.environ.get("DATABASE_URL"):
        raise CommandError("DATABASE_URL is set: there is no embedded database to manage")
    database = embedded_db.for_home(home())
    if args.action == "start":
        started = database.start(progress=say)
        say("started" if started else "already running")
        say(f"url: {database.url()}")
    elif args.action == "stop":
        database.stop()
        say("stopped")
    elif args.action == "url":
        print(database.url())
    else:
        print("running" if database.is_running() else "stopped")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # Only the demo needs an HTTP client and progress bars: the other commands start without.
    from plandeploy import demo

    return demo.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plandeploy", description="Self-hosted installer service: run plans against orgs."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="database (embedded by default), web server and a worker")
    up.add_argument("--host", default=DEFAULT_HOST)
    up.add_argument("--port", type=int, default=DEFAULT_PORT)
    up.add_argument("--concurrency", type=int, default=None,
                    help="plan runs and other `default` jobs the worker runs at once "
                         "(default WORKER_CONCURRENCY, 4)")
    up.add_argument("--short-concurrency", type=int, default=None,
                    help="`short` jobs (scheduled, enqueuer) it runs at once besides "
                         "(default SHORT_WORKER_CONCURRENCY, 2)")
    up.set_defaults(handler=cmd_up)

    web = commands.add_parser("web", help="the HTTP server (uvicorn: HTTP on request threads, "
                                          "websockets on its event loop)")
    web.add_argument("--host", default=DEFAULT_HOST)
    web.add_argument("--port", type=int, default=DEFAULT_PORT)
    web.add_argument("--workers", type=int, default=None,
                     help="worker processes (default WEB_WORKERS; 0 means one per core)")
    web.set_defaults(handler=cmd_web)

    worker = commands.add_parser("worker", help="a queue worker (several may run on several hosts)")
    worker.add_argument("--queues", default="default,short", help="comma-separated queue names")
    worker.add_argument("--concurrency", type=int, default=None,
                        help="slots for the queues other than `short` (or for `short` when "
                             "it is the only one; default WORKER_CONCURRENCY, 4)")
    worker.add_argument("--short-concurrency", type=int, default=None,
                        help="slots of `short` next to other queues "
                             "(default SHORT_WORKER_CONCURRENCY, 2)")
    worker.add_argument("--name", default=None, help="worker name shown in logs")
    worker.set_defaults(handler=cmd_worker)

    demo = commands.add_parser("demo", help="publish the sample product and run it end to end")
    demo.add_argument("--port", type=int, default=0, help="port for the demo's web server")
    demo.set_defaults(handler=cmd_demo)

    db = commands.add_parser("db", help="the embedded PostgreSQL: start, stop, url, status")
    db.add_argument("action", choices=["start", "stop", "url", "status"])
    db.set_defaults(handler=cmd_db)

    manage = commands.add_parser("manage", help="Django management commands", add_help=False)
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(handler=cmd_manage)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CommandError as exc:
        say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
