"""`phasewatch serve`'s two functions for the main CLI: the subparser and the command."""

import argparse
import socket

import pytest

from phasewatch.errors import UserError
from phasewatch.serve import cli, server


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="phasewatch")
    cli.add_serve_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


class FakeServer:
    ran = False

    def run(self, sockets):
        FakeServer.ran = True


@pytest.fixture
def no_serving(monkeypatch):
    """The command up to serving: nothing listens, nothing blocks."""
    monkeypatch.setattr(cli, "make_server", lambda root, host: FakeServer())
    monkeypatch.setattr(cli, "bind", lambda host, port: socket.socket())
    monkeypatch.setattr(cli, "url", lambda sock: "http://here/")
    FakeServer.ran = False


def test_defaults():
    args = parse(["serve"])
    assert (args.command, args.port, args.host) == ("serve", 8765, "127.0.0.1")
    assert parse(["serve", "--port", "9000", "--host", "0.0.0.0"]).port == 9000


@pytest.mark.parametrize("port", [0, -1, 65536, 10**6])
def test_a_port_out_of_range_is_a_user_error(tmp_path, port):
    with pytest.raises(UserError, match=rf"^--port: {port} is not allowed \(an integer from 1 to 65535\)$"):
        cli.serve_command(parse(["serve", "--port", str(port)]), tmp_path)


def test_a_store_that_is_not_a_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"^--store: '.*missing' is not allowed \(an existing store directory\)$"):
        cli.serve_command(parse(["serve"]), tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="--store"):
        cli.serve_command(parse(["serve"]), tmp_path / "file")


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("localhost", False), ("0.0.0.0", True), ("192.168.1.5", True)])
def test_a_host_beyond_this_machine_is_warned_about_in_one_line(tmp_path, capsys, no_serving, host, warned):
    cli.serve_command(parse(["serve", "--host", host]), tmp_path)
    err = capsys.readouterr().err
    assert FakeServer.ran
    assert (err.count("\n") == 1 and err.startswith("phasewatch: warning: --host") and host in err) if warned else err == ""


def test_a_port_in_use_is_a_user_error():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=rf"^--port: {port} is not allowed on 127.0.0.1 \("):
            server.bind("127.0.0.1", port)
