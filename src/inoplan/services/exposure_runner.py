"""Where a population's chunks run: in this process, or on a Dask cluster.

The execution side of the exposure use case (``services.exposure``): the same chunks, the same
random effects and the same integrator (``domain.pk.population.simulate_chunk``) either way, so
the percentiles agree. The only module that imports Dask (``distributed``; contract
``dask-home``). I/O: the Dask client's network connection when an address is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inoplan.domain.pk.model import TypicalParameters
from inoplan.errors import InvalidInput

__all__ = ["run_chunks"]


def run_chunks(
    typical: TypicalParameters,
    iiv_parameters: Sequence[str],
    etas: Any,
    chunks: Sequence[tuple[int, int]],
    infusions: Sequence[Any],
    windows: Sequence[Any],
    times: Any,
    rtol: float,
    dask_address: str | None,
    *,
    band_max_subjects: int,
    connect_timeout: str,
) -> list[Any]:
    """Simulate the population chunks in-process or on a Dask cluster (same results).

    The concentration curves (``times``) are kept for the chunks that start below
    ``band_max_subjects``; ``connect_timeout`` bounds the wait for the scheduler.
    """
    from inoplan.domain.pk.population import simulate_chunk

    args = [
        (
            typical,
            tuple(iiv_parameters),
            etas[lo:hi],
            list(infusions),
            list(windows),
            times if lo < band_max_subjects else None,
            rtol,
        )
        for lo, hi in chunks
    ]
    if dask_address is None:
        return [simulate_chunk(*a) for a in args]
    from inoplan.optional import require

    require("distributed", "a Dask scheduler (inoplan pk --dask)")  # else: names the extra
    from distributed import Client

    try:
        client = Client(  # type: ignore[no-untyped-call]
            dask_address, timeout=connect_timeout, set_as_default=False
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidInput(
            "dask", f"cannot reach the Dask scheduler at {dask_address!r}: {exc}"
        ) from None
    with client:
        futures = [client.submit(simulate_chunk, *a, pure=False) for a in args]
        return list(client.gather(futures))  # type: ignore[no-untyped-call]
