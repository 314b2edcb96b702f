"""Nearest-service search at scale: k-d tree per service type versus brute force.

python -m bench.search [--sizes 10000 100000 1000000] [--queries 1000]

Synthetic service points spread over the Americas, each with one to three of the 14
service types, as `amparo.search.ServiceSearch` indexes them (one tree per type). Each
query asks for the 3 nearest of one type from a random position; the filtered query
keeps only one point in ten (a population or open-now filter), so the tree is asked for
more neighbours. Agreement: the same positions, in the same order, as brute-force
haversine over every point of that type.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from amparo.geo import SpatialIndex
from amparo.search import brute_force
from amparo.services import service_types
from bench.common import peak_rss_mb, percentile, table

HEADERS = [
    "services",
    "index build s",
    "query p50 ms",
    "query p95 ms",
    "filtered p95 ms",
    "brute force p50 ms",
    "agreement",
    "peak RSS MB",
]


def synthetic(n: int, rng: np.random.Generator):
    lat = rng.uniform(-55, 33, n)
    lon = rng.uniform(-118, -34, n)
    kinds = list(service_types())
    members: dict[str, list[int]] = {k: [] for k in kinds}
    for i, count in enumerate(rng.integers(1, 4, n)):
        for kind in rng.choice(len(kinds), count, replace=False):
            members[kinds[kind]].append(i)
    return lat, lon, {k: np.asarray(v) for k, v in members.items()}


def run(n: int, queries: int, seed: int = 1) -> list[object]:
    rng = np.random.default_rng(seed)
    lat, lon, members = synthetic(n, rng)
    started = time.perf_counter()
    indexes = {k: SpatialIndex(lat[m], lon[m]) for k, m in members.items()}
    build = time.perf_counter() - started
    kinds = list(members)
    asks = [
        (kinds[rng.integers(len(kinds))], rng.uniform(-55, 33), rng.uniform(-118, -34))
        for _ in range(queries)
    ]
    keep = rng.random(n) < 0.1

    plain, filtered, brute, agree = [], [], [], 0
    for number, (kind, qlat, qlon) in enumerate(asks):
        index, m = indexes[kind], members[kind]
        started = time.perf_counter()
        found = [i for i, _ in index.nearest(qlat, qlon, 3)]
        plain.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        index.nearest(qlat, qlon, 3, accept=lambda i, m=m: bool(keep[m[i]]))
        filtered.append((time.perf_counter() - started) * 1000)
        if number < max(100, queries // 5):
            started = time.perf_counter()
            reference = brute_force(lat[m], lon[m], qlat, qlon, 3)
            brute.append((time.perf_counter() - started) * 1000)
            agree += found == list(reference)
    return [
        f"{n:,}",
        f"{build:.2f}",
        f"{percentile(plain, 50):.3f}",
        f"{percentile(plain, 95):.3f}",
        f"{percentile(filtered, 95):.3f}",
        f"{percentile(brute, 50):.2f}",
        f"{agree}/{len(brute)} ({100 * agree / len(brute):.0f}%)",
        f"{peak_rss_mb():.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10**4, 10**5, 10**6])
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    print(
        "Nearest 3 services of one type (k-d tree per type vs brute-force haversine):\n"
    )
    print(table(HEADERS, [run(n, args.queries) for n in args.sizes]))


if __name__ == "__main__":
    main()
