"""Each embedded state folder has one identity, which its API process serves."""

import json
import threading

from emulator.call_counter import CallCounter
from emulator.identity import IDENTITY_PATH, ensure_identity, read_identity
from tests.unit.emulator.asgi import call


async def ministack(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_a_state_folder_keeps_the_identity_it_was_given_first(tmp_path):
    assert read_identity(str(tmp_path / "a")) is None
    first = ensure_identity(str(tmp_path / "a"))
    assert ensure_identity(str(tmp_path / "a")) == first == read_identity(str(tmp_path / "a"))
    assert first.state_dir == str((tmp_path / "a").resolve())
    assert ensure_identity(str(tmp_path / "b")).identity != first.identity


def test_processes_starting_at_once_agree_on_one_identity(tmp_path):
    found = []
    barrier = threading.Barrier(8)

    def create():
        barrier.wait()
        found.append(ensure_identity(str(tmp_path)).identity)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and sorted(path.name for path in tmp_path.iterdir()) == ["identity"]


def test_the_api_serves_its_state_folders_identity_as_json(tmp_path):
    identity = ensure_identity(str(tmp_path))
    status, headers, body = call(CallCounter(ministack, identity), method="GET", path=IDENTITY_PATH)
    assert status == 200 and "json" in headers["content-type"]
    assert json.loads(body) == {"identity": identity.identity, "state_dir": str(tmp_path.resolve())}


def test_an_api_without_an_identity_answers_404():
    status, _, body = call(CallCounter(ministack), method="GET", path=IDENTITY_PATH)
    assert status == 404 and json.loads(body)["__type"] == "ResourceNotFoundException"
