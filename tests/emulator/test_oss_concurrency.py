"""Concurrency on the emulated OSS: racing forbid-overwrite writers and 32 threads of
PUT/GET, against both stores."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import BUCKET, OSSEnv, start_oss
from oss2.exceptions import ServerError

from django_alioss.emulator.store import DirectoryStore, MemoryStore


@pytest.fixture(params=["memory", "directory"], scope="module")
def env(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OSSEnv]:
    store = (MemoryStore() if request.param == "memory"
             else DirectoryStore(Path(tmp_path_factory.mktemp("concurrency"))))
    running = start_oss(store)
    try:
        yield running
    finally:
        running.stop()
        store.close()


def test_forbid_overwrite_race_has_one_winner(env: OSSEnv) -> None:
    bucket = env.bucket()
    bodies = [os.urandom(256 * 1024), os.urandom(256 * 1024)]
    for round_number in range(15):
        key = f"race/{round_number}"
        barrier = threading.Barrier(2)
        outcomes: list[object] = [None, None]

        def writer(index: int, key: str = key, barrier: threading.Barrier = barrier,
                   outcomes: list[object] = outcomes) -> None:
            barrier.wait()
            try:
                bucket.put_object(key, bodies[index], headers={"x-oss-forbid-overwrite": "true"})
                outcomes[index] = "ok"
            except ServerError as exc:
                outcomes[index] = (exc.status, exc.code)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes, key=str) == sorted(["ok", (409, "FileAlreadyExists")], key=str)
        winner = outcomes.index("ok")
        assert env.store.get_object_bytes(BUCKET, key) == bodies[winner]


def test_32_threads_of_put_and_get(env: OSSEnv) -> None:
    bucket = env.bucket()
    shared = os.urandom(1024 * 1024 + 5)
    bucket.put_object("shared", shared)
    hot_versions = {hashlib.md5(v).hexdigest(): v for v in
                    (os.urandom(300 * 1024) for _ in range(4))}
    versions = list(hot_versions.values())
    bucket.put_object("hot", versions[0])

    def work(worker: int) -> int:
        done = 0
        for round_number in range(4):
            key = f"worker/{worker}/{round_number}"
            data = os.urandom(64 * 1024 + worker * 997)
            result = bucket.put_object(key, data)  # oss2 checks the CRC reply
            assert result.etag == hashlib.md5(data).hexdigest().upper()
            assert bucket.get_object(key).read() == data
            assert bucket.get_object("shared", byte_range=(worker, worker + 99)).read() == \
                shared[worker:worker + 100]
            if worker % 4 == 0:
                bucket.put_object("hot", versions[(worker + round_number) % len(versions)])
            hot = bucket.get_object("hot").read()
            assert hashlib.md5(hot).hexdigest() in hot_versions  # never a torn body
            done += 1
        return done

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(work, range(32)))
    assert results == [4] * 32
    assert len(env.store.list_keys(BUCKET, "worker/")) == 32 * 4
    assert env.store.get_object_bytes(BUCKET, "shared") == shared
