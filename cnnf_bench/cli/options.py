"""Option aliases shared by several commands."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class Device(str, Enum):
    """Where to run: ``auto`` picks CUDA when present."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


DeviceOpt = Annotated[Device, typer.Option("--device", help="auto (CUDA if present), cpu or cuda.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder with the dataset files (else $CNNF_BENCH_DATA, the cache, system locations, download).",
        show_default=False,
    ),
]
OutputDirOpt = Annotated[
    Path, typer.Option("--output-dir", help="Checkpoints folder: it receives one folder per training run.")
]
#: the old short spelling of ``--output-dir`` in ``train`` (``-o`` is ``--out`` everywhere now)
OldOutputDirOpt = Annotated[Path | None, typer.Option("-o", hidden=True)]
StoreOpt = Annotated[
    Path, typer.Option("--results", help="Results store: a JSONL file, or a suite's folder of per-job shards.")
]
