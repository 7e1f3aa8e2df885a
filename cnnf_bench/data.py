"""Datasets as in-memory uint8 tensors, found without hidden downloads, read with torchvision's loaders.

Discovery order (design.md): an explicit directory (``--data-dir`` or ``CNNF_BENCH_DATA``), the tool's
cache folder, well-known system locations (Debian's ``dataset-fashion-mnist``), then torchvision's
download into the cache where the network allows (off when ``CNNF_BENCH_NO_DOWNLOAD`` is set).
Images stay uint8 in memory and become [0, 1] floats one batch at a time.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from cnnf_bench.classes import CLASS_NAMES
from cnnf_bench.errors import DataError
from cnnf_bench.registry import Registry

DATA_ENV = "CNNF_BENCH_DATA"
NO_DOWNLOAD_ENV = "CNNF_BENCH_NO_DOWNLOAD"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_FOLDER = "cifar-10-batches-py"


def cache_dir() -> Path:
    """The tool's cache folder (``$XDG_CACHE_HOME/cnnf-bench``, default ``~/.cache/cnnf-bench``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cnnf-bench"


Loader = Callable[[Path | None, bool], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class DatasetSpec:
    """What the rest of the tool needs to know about a dataset."""

    name: str
    num_classes: int
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    loader: Loader
    how_to_get: str


DATASETS: Registry[DatasetSpec] = Registry("dataset")


@dataclass
class ImageSet:
    """A split of a dataset: images (N, C, H, W) and int64 labels, kept on the CPU.

    Images are uint8 pixels as the datasets store them, or floats already in [0, 1] (a user's own
    tensors through the public API, which must reach the model unrounded).
    """

    images: Tensor
    labels: Tensor
    spec: DatasetSpec

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: Tensor) -> ImageSet:
        """The images at ``index`` (a 1-D index tensor), as a new set."""
        return ImageSet(self.images[index], self.labels[index], self.spec)

    def batch(self, index: Tensor, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """Float images in [0, 1] and labels for ``index``, on ``device``."""
        x = self.images[index].to(device=device, dtype=torch.float32)
        if self.images.dtype == torch.uint8:
            x = x.div_(255.0)
        return x, self.labels[index].to(device)


def seeded_subset(total: int, n: int | None, seed: int) -> Tensor:
    """A fixed, seeded choice of ``n`` of ``total`` indices, sorted; all indices when ``n`` is None."""
    if n is None or n >= total:
        return torch.arange(total)
    if n <= 0:
        raise DataError(f"a subset needs at least one image, got {n}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=gen)[:n].sort().values


def load_split(name: str, train: bool, data_dir: Path | str | None = None) -> ImageSet:
    """Load the train or test split of dataset ``name``, or raise a :class:`DataError` saying how to get it.

    Splits are cached per process (keyed by the resolved folder), so a suite that evaluates many
    attacks reads the files once; callers never modify an :class:`ImageSet` in place.
    """
    spec = DATASETS.get(name)
    explicit = Path(data_dir) if data_dir is not None else None
    if explicit is None and os.environ.get(DATA_ENV):
        explicit = Path(os.environ[DATA_ENV])
    if explicit is not None and not explicit.is_dir():
        raise DataError(f"data directory {explicit} does not exist")
    key = (name, train, str(explicit.resolve()) if explicit is not None else None, str(cache_dir()))
    if key not in _SPLITS:
        images, labels = spec.loader(explicit, train)
        _SPLITS[key] = ImageSet(images.contiguous(), labels.to(torch.int64), spec)
    return _SPLITS[key]


_SPLITS: dict[tuple[str, bool, str | None, str], ImageSet] = {}


def _download_allowed() -> bool:
    return not os.environ.get(NO_DOWNLOAD_ENV)


def _not_found(spec_name: str, how: str, explicit: Path | None, error: Exception | None = None) -> DataError:
    where = f" in {explicit}" if explicit is not None else ""
    why = f" (download failed: {type(error).__name__}: {error})" if error is not None else ""
    return DataError(f"dataset {spec_name} not found{where}{why}. {how}")


# -- Fashion-MNIST ----------------------------------------------------------------------------------
def _fashion_files(folder: Path) -> dict[str, Path] | None:
    """Map each raw file name to its path in ``folder`` (plain or .gz), or None if one is missing."""
    found = {}
    for stem in FASHION_FILES:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[stem] = candidate
                break
        else:
            return None
    return found


def _stage_fashion(files: dict[str, Path]) -> Path:
    """Put the raw files where torchvision's ``FashionMNIST`` reads them; return its root."""
    source = str(next(iter(files.values())).parent.resolve())
    root = cache_dir() / "staged" / hashlib.sha1(source.encode()).hexdigest()[:12]
    raw = root / "FashionMNIST" / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cache_error(raw, exc) from None
    for stem, path in files.items():
        target = raw / stem
        if target.is_file():
            continue
        tmp = raw / f".{stem}.tmp{os.getpid()}"
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            src = opener(path, "rb")
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
        try:
            with src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, target)
        except (OSError, EOFError, zlib.error) as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.filename != str(path):
                raise _cache_error(raw, exc) from None
            raise DataError(f"cannot read {path}: {exc}") from None
    return root


def _cache_error(folder: Path, exc: OSError) -> DataError:
    """The data files must be staged in the cache for torchvision, and the cache cannot be written."""
    return DataError(
        f"cannot stage the dataset in the cache folder {folder}: {exc.strerror or exc}. Make the cache "
        f"writable, point XDG_CACHE_HOME to a writable folder, or pass --data-dir with a ready "
        "FashionMNIST/raw tree (used in place)"
    )


def _fashion_root(explicit: Path | None) -> Path:
    how = (
        "Get it with `apt-get install dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist/), "
        f"or pass --data-dir / set {DATA_ENV} to a folder holding the four idx files (.gz or not, or a "
        "torchvision FashionMNIST/raw tree), or allow torchvision to download it (needs network; "
        f"unset {NO_DOWNLOAD_ENV})."
    )
    candidates = [explicit] if explicit is not None else [cache_dir(), DEBIAN_FASHION_DIR]
    for folder in candidates:
        assert folder is not None
        if _fashion_files(folder / "FashionMNIST" / "raw") is not None:
            return folder
        files = _fashion_files(folder)
        if files is not None:
            return _stage_fashion(files)
    if explicit is not None or not _download_allowed():
        raise _not_found("fmnist", how, explicit)
    from torchvision.datasets import FashionMNIST

    try:
        FashionMNIST(root=str(cache_dir()), train=True, download=True)
    except Exception as exc:  # network errors come in many types; all mean "not obtainable"
        raise _not_found("fmnist", how, None, exc) from None
    return cache_dir()


def _load_fashion(explicit: Path | None, train: bool) -> tuple[Tensor, Tensor]:
    from torchvision.datasets import FashionMNIST

    root = _fashion_root(explicit)
    try:
        ds = FashionMNIST(root=str(root), train=train, download=False)
    except (RuntimeError, AssertionError, ValueError, OSError) as exc:
        raise DataError(f"cannot read Fashion-MNIST under {root}: {exc}") from None
    return ds.data.unsqueeze(1), ds.targets


DATASETS.add(
    "fmnist",
    DatasetSpec(
        name="fmnist",
        num_classes=10,
        shape=(1, 28, 28),
        classes=CLASS_NAMES["fmnist"],
        loader=_load_fashion,
        how_to_get="apt-get install dataset-fashion-mnist",
    ),
)


# -- CIFAR-10 ---------------------------------------------------------------------------------------
def _cifar_class() -> type:
    """torchvision's CIFAR10 reader without the md5 check, so small sets in the real format load too."""
    from torchvision.datasets import CIFAR10

    class CIFAR10Files(CIFAR10):
        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            import pickle

            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return CIFAR10Files


def _cifar_root(explicit: Path | None) -> Path:
    how = (
        f"Pass --data-dir / set {DATA_ENV} to a folder that holds {CIFAR_FOLDER}/ (the standard python "
        f"version from https://www.cs.toronto.edu/~kriz/cifar.html), put it under {cache_dir()}, or allow "
        f"torchvision to download it (needs network; unset {NO_DOWNLOAD_ENV})."
    )
    candidates = [explicit] if explicit is not None else [cache_dir()]
    for folder in candidates:
        assert folder is not None
        if (folder / CIFAR_FOLDER / "batches.meta").is_file():
            return folder
        if folder.name == CIFAR_FOLDER and (folder / "batches.meta").is_file():
            return folder.parent
    if explicit is not None or not _download_allowed():
        raise _not_found("cifar10", how, explicit)
    from torchvision.datasets import CIFAR10

    try:
        CIFAR10(root=str(cache_dir()), train=True, download=True)
    except Exception as exc:  # network errors come in many types; all mean "not obtainable"
        raise _not_found("cifar10", how, None, exc) from None
    return cache_dir()


def _load_cifar(explicit: Path | None, train: bool) -> tuple[Tensor, Tensor]:
    root = _cifar_root(explicit)
    try:
        ds = _cifar_class()(root=str(root), train=train, download=False)
    except Exception as exc:  # a broken pickle can raise almost anything
        raise DataError(f"cannot read CIFAR-10 under {root}: {type(exc).__name__}: {exc}") from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2)
    return images, torch.tensor(ds.targets, dtype=torch.int64)


DATASETS.add(
    "cifar10",
    DatasetSpec(
        name="cifar10",
        num_classes=10,
        shape=(3, 32, 32),
        classes=CLASS_NAMES["cifar10"],
        loader=_load_cifar,
        how_to_get="--data-dir with cifar-10-batches-py",
    ),
)


def eval_indices(total: int, n: int | None, seed: int = 0) -> Tensor:
    """The fixed evaluation subset: the first ``n`` entries of a seeded permutation of the split.

    Unlike :func:`seeded_subset` the order is kept, so a smaller subset is a prefix of a larger one and
    per-example results of records with different ``n`` line up on their common prefix.
    """
    if n is not None and n <= 0:
        raise DataError(f"an evaluation subset needs at least one image, got {n}")
    perm = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    return perm if n is None else perm[: min(n, total)]
