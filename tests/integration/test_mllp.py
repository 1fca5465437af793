"""HL7 v2 over a real MLLP socket: ACK per message, limits, and a listener killed mid-stream.

The in-process tests run ``MllpServer`` on a free loopback port in a background event loop; the
last test runs ``inoplan hl7 listen`` as a process, kills it (SIGKILL) in the middle of a message,
starts it again and resends: nothing is lost and nothing is recorded twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from inoplan.inbound import handle_hl7
from inoplan.interop.hl7v2 import split_batch
from inoplan.interop.mllp import END, START, MllpLimits, MllpServer, frame
from tests.integration.hl7_helpers import LATER, add_course, events_of, feed, fixture
from tests.integration.records_helpers import migrated_database


def message(name: str) -> bytes:
    [raw] = split_batch(fixture(name))
    return raw


@contextmanager
def running(handler: Callable[[bytes], bytes], limits: MllpLimits | None = None) -> Iterator[int]:
    """An MLLP server on a free loopback port in a background thread; yields the port."""
    loop = asyncio.new_event_loop()
    server = MllpServer(handler, host="127.0.0.1", port=0, limits=limits or MllpLimits())
    started = threading.Event()
    port: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        port.append(loop.run_until_complete(server.start()))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield port[0]
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_ack(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    assert data.startswith(START)
    return data[1 : -len(END)]


def ack_code(ack: bytes) -> str:
    return ack.split(b"\r")[1].split(b"|")[1].decode()


def test_each_message_gets_its_ack_in_order_on_one_connection(database: Any) -> None:
    add_course(database)
    ctx = feed(database)
    with running(lambda raw: handle_hl7(ctx, raw)[1]) as port, connect(port) as sock:
        # two messages in one write (pipelined): two ACKs, in order
        sock.sendall(
            frame(message("oru-v251-cbc-hepatic-final.hl7"))
            + frame(message("oru-unknown-patient.hl7"))
        )
        first, second = read_ack(sock), read_ack(sock)
        assert (ack_code(first), ack_code(second)) == ("AA", "AE")
        assert b"LAB-20260418-0001" in first and b"LAB-20260418-0101" in second
        sock.sendall(frame(message("oru-wrong-encoding-characters.hl7")))
        assert ack_code(read_ack(sock)) == "AR"
        sock.sendall(frame(message("oru-v251-cbc-hepatic-final.hl7")))  # resent
        assert ack_code(read_ack(sock)) == "AA"
    assert len(events_of(database, 1)) == 8  # 6 + 2, once


def test_a_message_over_the_size_limit_is_refused_and_the_connection_closed() -> None:
    limits = MllpLimits(max_bytes=2048)
    with running(lambda raw: b"MSA|AA", limits) as port, connect(port) as sock:
        sock.sendall(START + b"MSH|" + b"x" * 5000 + END)
        ack = read_ack(sock)
        assert ack_code(ack) == "AR" and b"larger than 2048" in ack
        assert sock.recv(10) == b""


def test_bytes_before_a_start_block_are_a_framing_error() -> None:
    with running(lambda raw: b"MSA|AA") as port, connect(port) as sock:
        sock.sendall(b"MSH|^~\\&|no framing" + END)
        assert ack_code(read_ack(sock)) == "AR"
        assert sock.recv(10) == b""


def test_an_idle_or_slow_connection_is_closed() -> None:
    limits = MllpLimits(idle_timeout=0.3, message_timeout=0.3)
    with running(lambda raw: b"MSA|AA", limits) as port:
        with connect(port) as idle:
            assert idle.recv(10) == b""  # closed by the server, nothing sent
        with connect(port) as slow:
            slow.sendall(START + b"MSH|^~\\&|")  # never finished
            assert slow.recv(10) == b""


def test_more_clients_than_allowed_are_turned_away() -> None:
    limits = MllpLimits(max_connections=1, idle_timeout=5)
    with running(lambda raw: b"MSA|AA", limits) as port, connect(port) as first:
        first.sendall(frame(b"MSH|1"))
        assert read_ack(first) == b"MSA|AA"
        with connect(port) as second:
            assert second.recv(10) == b""


def test_a_crash_after_commit_before_the_ack_loses_and_duplicates_nothing(database: Any) -> None:
    """The ACK is sent only after the commit: a listener that dies in between sends no ACK,
    the sender resends to the restarted listener, and gets AA for the stored message."""
    course = add_course(database)
    ctx = feed(database, now=LATER)  # the preliminary below is dated 2026-04-25
    crash = {"armed": True}

    def dies_before_acking(raw: bytes) -> bytes:
        ack = handle_hl7(ctx, raw)[1]
        if crash["armed"] and b"LAB-20260418-0002" in raw:
            crash["armed"] = False
            raise RuntimeError("listener killed after the commit")
        return ack

    with running(dies_before_acking) as port, connect(port) as sock:
        sock.sendall(frame(message("oru-v251-cbc-hepatic-final.hl7")))
        assert ack_code(read_ack(sock)) == "AA"
        sock.sendall(frame(message("oru-v251-hepatic-corrected.hl7")))
        with pytest.raises(ConnectionError):
            read_ack(sock)  # no ACK: the sender will resend
    stored = len(events_of(database, course))
    with running(lambda raw: handle_hl7(ctx, raw)[1]) as port, connect(port) as sock:
        for name in ("oru-v251-hepatic-corrected.hl7", "oru-v251-anc-preliminary.hl7"):
            sock.sendall(frame(message(name)))
            assert ack_code(read_ack(sock)) == "AA"
    assert len(events_of(database, course)) == stored + 1  # only the new message added one


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_listener(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env["INOPLAN_DATABASE_URL"] = url
    process = subprocess.Popen(
        [sys.executable, "-m", "inoplan", "hl7", "listen", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    line = process.stderr.readline().decode()
    assert "listening for HL7 v2" in line, line
    return process


def test_the_listener_process_killed_mid_stream_and_restarted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'feed.db'}"
    database = migrated_database(url)
    course = add_course(database)
    port = _free_port()
    names = [
        "oru-v251-cbc-hepatic-final.hl7",
        "oru-v251-hepatic-corrected.hl7",
        "oru-v251-anc-preliminary.hl7",
        "oru-v251-anc-final.hl7",
    ]
    listener = _start_listener(url, port)
    try:
        with connect(port) as sock:
            sock.sendall(frame(message(names[0])))
            assert ack_code(read_ack(sock)) == "AA"
            half = frame(message(names[1]))
            sock.sendall(half[: len(half) // 2])  # killed in the middle of the second message
            listener.send_signal(signal.SIGKILL)
            listener.wait(10)
    finally:
        if listener.poll() is None:
            listener.kill()
        assert listener.stderr is not None
        listener.stderr.close()
    listener = _start_listener(url, port)
    try:
        with connect(port) as sock:
            for name in names:  # the sender resends everything it has no ACK for, and more
                sock.sendall(frame(message(name)))
                assert ack_code(read_ack(sock)) == "AA", name
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(20) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
        assert listener.stderr is not None
        listener.stderr.close()
    events = events_of(database, course)
    ids = [e["id"] for e in events if e.get("id")]
    assert len(ids) == len(set(ids))
    assert len(events) == 6 + 2 + 1 + 2  # stored, first message, correction, prelim, final
    database.dispose()


def _import(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env["INOPLAN_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "inoplan", "hl7", "import", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_hl7_import_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'import.db'}"
    database = migrated_database(url)
    course = add_course(database)
    from tests.integration.hl7_helpers import FIXTURES

    batch = _import(url, str(FIXTURES / "batch-three-messages.hl7"), "--json")
    assert batch.returncode == 1, batch.stderr  # one of the three was parked
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [(x["state"], x["ack"]) for x in lines] == [
        ("applied", "AA"),
        ("parked", "AE"),
        ("applied", "AA"),
    ]
    assert lines[1]["problems"][0]["code"] == "unknown_patient"
    assert "MRN-9999" not in batch.stdout + batch.stderr  # no patient data on the console
    again = _import(url, str(FIXTURES / "batch-three-messages.hl7"))
    assert again.stdout.count("(already received)") == 3
    assert len(events_of(database, course)) == 6 + 2
    clean = _import(url, str(FIXTURES / "oru-v251-hepatic-corrected.hl7"))
    assert clean.returncode == 1  # the correction's target (order LAB-55502) is not on record
    missing = _import(url, str(tmp_path / "nope.hl7"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    database.dispose()
