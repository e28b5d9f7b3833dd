"""Complete typed records for report tests, with every field a renderer may read filled in."""

from __future__ import annotations

from dataclasses import replace

from audit.records import (CellResult, CloakerRecord, Environment, Perturbation, ProtocolRecord, Rate, RunReport, Skip,
                           UserRow)
from audit.statistics import clustered_rate


def rate(value: float, low: float, high: float, n_photos: int = 20, n_users: int | None = 5) -> Rate:
    return Rate(rate=value, ci95=(low, high), n_photos=n_photos, n_users=n_users)


def user_row(user: str, n_test: int, hidden: int, control_hidden: int = 0) -> UserRow:
    """A user whose first `hidden` test photos the tracker missed."""
    photos = tuple(f"{user}/{user}_{j:04d}.jpg" for j in range(n_test))
    return UserRow(user=user, n_test=n_test, hidden=hidden, control_hidden=control_hidden,
                   protection=hidden / n_test if n_test else None,
                   control=control_hidden / n_test if n_test else None, test_photos=photos,
                   hidden_photos=photos[:hidden])


def cell(tracker: str = "faiss", protection: Rate | None = None, control: Rate | None = None,
         rows: tuple[UserRow, ...] = (), **fields) -> CellResult:
    """A cell; its rates default to the pooled rates of `rows` (one user hiding 3 of 4 photos if none)."""
    rows = rows or (user_row("Ada_Lovelace", 4, 3),)
    totals = [u.n_test for u in rows]
    values = dict(tracker=tracker, tracker_params={}, countermeasure="none", seed=0, leak_ratio=0.0, n_labels=60,
                  isolation="per-user", protection=protection or clustered_rate([u.hidden for u in rows], totals),
                  control=control or clustered_rate([u.control_hidden for u in rows], totals),
                  normal_accuracy=rate(0.99, 0.97, 1.0, 400, None), per_user=rows)
    return CellResult(**{**values, **fields})


def run_report(results: list[CellResult], skipped: list[Skip] = (), cloaker: str = "fawkes", seed: int = 0,
               **fields) -> RunReport:
    users = tuple(dict.fromkeys(u.user for r in results for u in r.per_user))
    return RunReport(
        cloaker=CloakerRecord(name=cloaker, spec=cloaker, implementation="built-in", params={"mode": "high"}),
        perturbation=Perturbation(n_photos=3, dssim_mean=0.005, dssim_max=0.01, psnr_mean=None, l2_mean=1.5,
                                  linf_max=12, seconds_per_photo=0.3),
        examples=(),
        protocol=ProtocolRecord(dataset="lfw", seed=seed, users=users, min_photos=20, max_photos=40,
                                train_fraction=0.7, leak_ratio=0.0, isolation="per-user", n_labels=60,
                                labels=("x",), n_train_photos=900, n_test_photos=400, n_leaked_photos=0),
        results=tuple(replace(r, seed=seed) for r in results), detection=(), skipped=tuple(skipped), timings={},
        environment=Environment(python="3.11", packages={}, seed=seed, command_line=f"audit run --cloaker {cloaker}"),
        **fields)
