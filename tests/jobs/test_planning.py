"""Shards keep the file order, respect the limits and share the bytes evenly."""

from __future__ import annotations

import random

from fusionflow.jobs.planning import split


def sizes(shards: list[list[tuple[str, int]]]) -> list[int]:
    return [sum(size for _, size in shard) for shard in shards]


def test_even_shards_instead_of_a_small_last_one() -> None:
    files = [(f"{i:03}", 10) for i in range(87)]  # 870 bytes, at most 256 a shard
    shards = split(files, max_bytes=256, max_files=1000)
    assert len(shards) == 4
    assert sizes(shards) == [220, 220, 220, 210]
    assert [entry for shard in shards for entry in shard] == files


def test_limits_hold_and_order_is_kept() -> None:
    rng = random.Random(7)
    for _ in range(200):
        files = [(f"{i:05}", rng.choice([0, 1, 5, 50, 500])) for i in range(rng.randint(0, 300))]
        max_bytes, max_files = rng.randint(1, 2000), rng.randint(1, 50)
        shards = split(files, max_bytes, max_files)
        assert [entry for shard in shards for entry in shard] == files
        for shard in shards:
            assert shard
            assert len(shard) <= max_files
            assert len(shard) == 1 or sum(size for _, size in shard) <= max_bytes


def test_a_file_larger_than_the_limit_is_a_shard_alone() -> None:
    shards = split([("a", 5), ("big", 1000), ("b", 5)], max_bytes=100, max_files=10)
    assert ["big"] in [[path for path, _ in shard] for shard in shards]


def test_file_count_limit_and_nothing_to_do() -> None:
    assert [len(s) for s in split([(str(i), 0) for i in range(10)], 100, 4)] == [4, 4, 2]
    assert split([], 100, 4) == []
