"""A starting process waits for a database that is restarting instead of exiting at once."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from django.db import connection

from plandeploy import bootstrap
from plandeploy.testing.processes import free_port


def _target_address(settings_dict) -> tuple[int, object]:
    host, port = settings_dict["HOST"] or "localhost", int(settings_dict["PORT"] or 5432)
    if host.startswith("/"):
        return socket.AF_UNIX, f"{host}/.s.PGSQL.{port}"
    return socket.AF_INET, (host, port)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _forward_after(delay: float, port: int, target: tuple[int, object]) -> socket.socket:
    """After `delay`, listen on `port` and relay every connection to the test database:
    a database that comes up late, as after a restart."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def serve():
        time.sleep(delay)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(target[0])
            upstream.connect(target[1])
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


@pytest.mark.django_db
def test_a_database_that_comes_up_late_is_waited_for(monkeypatch, capsys):
    settings_dict = connection.settings_dict
    port = free_port()
    listener = _forward_after(1.5, port, _target_address(settings_dict))
    try:
        monkeypatch.setenv(
            "DATABASE_URL",
            f"postgresql://{settings_dict['USER']}@127.0.0.1:{port}/{settings_dict['NAME']}",
        )
        monkeypatch.setenv("DATABASE_WAIT_SECONDS", "30")
        before = time.monotonic()
        assert bootstrap.prepare_database(progress=False) is False
        waited = time.monotonic() - before
    finally:
        listener.close()
    out = capsys.readouterr().out
    assert f"waiting up to 30 s for the database at 127.0.0.1:{port}" in out
    # It connected only once the server was there, not before and not by giving up.
    assert waited >= 1.5


@pytest.mark.django_db
def test_a_permanent_failure_is_reported_without_waiting(monkeypatch, capsys):
    # A database that does not exist on a running server will not appear by waiting.
    settings_dict = connection.settings_dict
    host, port = settings_dict["HOST"] or "localhost", settings_dict["PORT"] or 5432
    monkeypatch.setenv(
        "DATABASE_URL",
        f"postgresql://{settings_dict['USER']}@/no_such_database?host={host}&port={port}",
    )
    monkeypatch.setenv("DATABASE_WAIT_SECONDS", "30")
    with pytest.raises(bootstrap.CommandError, match='"no_such_database" does not exist'):
        bootstrap.prepare_database(progress=False)
    assert "waiting" not in capsys.readouterr().out


def test_a_child_of_the_databases_owner_waits_for_it_and_never_starts_it(monkeypatch, tmp_path):
    # A process that `up` (or the soak) started, while the owner restarts the database: if it
    # started the server itself, its own exit would stop the database under everyone else.
    from plandeploy import embedded_db

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PLANDEPLOY_HOME", str(tmp_path))
    database = embedded_db.for_home(tmp_path)
    monkeypatch.setenv(bootstrap.EMBEDDED_OWNER_VARIABLE, f"{os.getppid()}:{database.pgdata}")
    monkeypatch.setenv("DATABASE_WAIT_SECONDS", "1")
    with pytest.raises(bootstrap.CommandError, match="cannot reach the database"):
        bootstrap.prepare_database(progress=False)
    assert not database.is_initialised and not database.is_running()
