"""Classification data sets for the contextual-bandit benchmarks, loaded as ``(X, y)`` arrays.

The classification-to-bandit conversion (contexts = rows of ``X``, arms = classes, reward 1 for
the true label) is the standard offline benchmark of contextual-bandit papers: Bietti, Agarwal &
Langford, "A contextual bandit bake-off" (JMLR 2021) and the Pearl paper (Zhu et al. 2023,
arXiv:2312.03814), which uses the UCI sets ``letter``, ``pendigits``, ``satimage`` and ``yeast``.

* ``digits``, ``wine``, ``breast_cancer`` come bundled with scikit-learn (an optional dependency:
  ``pip install "nacre[datasets]"``).
* The UCI sets are downloaded once from the UCI Machine Learning Repository (Dua & Graff,
  https://archive.ics.uci.edu) and cached; they are parsed with plain Python and NumPy.

Cache location: the ``cache_dir`` argument, else ``$NACRE_DATA_DIR``, else
``~/.cache/nacre/datasets``; each file lives at ``<cache>/<name>/<file name>``. The server can be
replaced by a mirror (``base_url`` or ``$NACRE_UCI_URL``, ``file://`` URLs included). Downloads go
to a temporary file in the cache folder that is renamed into place only once complete, so an
interrupted download never leaves a truncated file that later loads would trust.

Labels are mapped to ``0..C-1`` in sorted order of the original labels (``np.unique`` order:
numeric labels numerically, names alphabetically), e.g. satimage's ``{1, 2, 3, 4, 5, 7}`` become
``0..5`` and letter's ``A..Z`` become ``0..25``.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nacre.errors import ConfigError, NacreError

DEFAULT_UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/"
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16


class DatasetError(NacreError, ValueError):
    """A data-set file could not be parsed; the message names the file and line."""


class DownloadError(NacreError, OSError):
    """A data-set file could not be downloaded; the message names the URL and the cache path."""


@dataclass(frozen=True)
class _UciSet:
    files: tuple[str, ...]  # paths relative to the UCI base URL; train and test are concatenated
    n_features: int
    numeric_labels: bool
    parse_line: Callable[[str], tuple[list[float], str]]  # raises ValueError on a bad line


def _letter(line: str) -> tuple[list[float], str]:
    # "T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8": the capital letter first, then 16 integers
    fields = line.split(",")
    label = fields[0].strip()
    if len(label) != 1 or not label.isalpha():
        raise ValueError(f"expected a letter as the first field, got {fields[0]!r}")
    return [float(v) for v in fields[1:]], label


def _pendigits(line: str) -> tuple[list[float], str]:
    # " 47,100, 27, ...,  8": 16 space-padded integers, then the digit
    fields = line.split(",")
    return [float(v) for v in fields[:-1]], str(int(fields[-1]))


def _satimage(line: str) -> tuple[list[float], str]:
    # "92 115 120 ... 3": 36 integers, then the class (1, 2, 3, 4, 5 or 7)
    fields = line.split()
    return [float(v) for v in fields[:-1]], str(int(fields[-1]))


def _yeast(line: str) -> tuple[list[float], str]:
    # "ADT1_YEAST  0.58  0.61 ...  MIT": a sequence name, 8 scores, the localization class
    fields = line.split()
    if len(fields) < 3:
        raise ValueError(f"expected a name, 8 numbers and a class, got {len(fields)} fields")
    return [float(v) for v in fields[1:-1]], fields[-1]


_UCI: dict[str, _UciSet] = {
    "letter": _UciSet(("letter-recognition/letter-recognition.data",), 16, False, _letter),
    "pendigits": _UciSet(("pendigits/pendigits.tra", "pendigits/pendigits.tes"), 16, True,
                         _pendigits),
    "satimage": _UciSet(("statlog/satimage/sat.trn", "statlog/satimage/sat.tst"), 36, True,
                        _satimage),
    "yeast": _UciSet(("yeast/yeast.data",), 8, False, _yeast),
}
_SKLEARN = {"digits": "load_digits", "wine": "load_wine", "breast_cancer": "load_breast_cancer"}

SKLEARN_DATASETS: tuple[str, ...] = tuple(_SKLEARN)
UCI_DATASETS: tuple[str, ...] = tuple(_UCI)
DATASET_NAMES: tuple[str, ...] = SKLEARN_DATASETS + UCI_DATASETS


def default_cache_dir() -> Path:
    """``$NACRE_DATA_DIR`` if set, else ``~/.cache/nacre/datasets``."""
    env = os.environ.get("NACRE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nacre" / "datasets"


def load_dataset(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a classification data set as ``X`` float32 ``[N, d]`` and ``y`` int64 ``[N]``.

    ``name`` is one of :data:`DATASET_NAMES`. UCI sets are downloaded on first use into
    ``cache_dir`` (see the module docstring) from ``base_url`` (default ``$NACRE_UCI_URL``, else
    :data:`DEFAULT_UCI_URL`). ``progress`` prints download progress to stderr (default: when
    stderr is a terminal). Labels are ``0..C-1`` in sorted order of the original labels.
    """
    if name in _SKLEARN:
        return _load_sklearn(name)
    spec = _UCI.get(name)
    if spec is None:
        raise ConfigError(
            f"dataset: unknown name {name!r}; expected one of {', '.join(DATASET_NAMES)}"
        )
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    url = base_url or os.environ.get("NACRE_UCI_URL") or DEFAULT_UCI_URL
    show = sys.stderr.isatty() if progress is None else progress
    rows: list[list[float]] = []
    labels: list[str] = []
    for rel in spec.files:
        path = root / name / Path(rel).name
        if not path.is_file():
            _download(url.rstrip("/") + "/" + rel, path, show)
        _parse_file(path, spec, rows, labels)
    if not rows:
        raise DatasetError(f"{name}: the files in {root / name} hold no data rows")
    X = np.asarray(rows, dtype=np.float32)
    raw = np.asarray([int(v) for v in labels]) if spec.numeric_labels else np.asarray(labels)
    _, y = np.unique(raw, return_inverse=True)
    return X, y.astype(np.int64).reshape(-1)


def _load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        import sklearn.datasets as skd
    except ImportError as exc:
        raise ConfigError(
            f"dataset {name!r} comes from scikit-learn, which is not installed: "
            'pip install "nacre[datasets]" (or pip install scikit-learn)'
        ) from exc
    bunch: Any = getattr(skd, _SKLEARN[name])()
    X = np.asarray(bunch.data, dtype=np.float32)
    _, y = np.unique(np.asarray(bunch.target), return_inverse=True)
    return X, y.astype(np.int64).reshape(-1)


def _parse_file(path: Path, spec: _UciSet, rows: list[list[float]], labels: list[str]) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc}); delete it to download "
                           "it again") from exc
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            features, label = spec.parse_line(line)
        except ValueError as exc:
            raise DatasetError(f"{path}, line {lineno}: cannot parse {line!r}: {exc}") from exc
        if len(features) != spec.n_features:
            raise DatasetError(
                f"{path}, line {lineno}: expected {spec.n_features} features and a label, got "
                f"{len(features)} features in {line!r} (a truncated or different file? delete it "
                "to download it again)"
            )
        if not all(map(math.isfinite, features)):
            raise DatasetError(f"{path}, line {lineno}: non-finite value in {line!r}")
        rows.append(features)
        labels.append(label)


def _download(url: str, dest: Path, progress: bool) -> None:
    import http.client
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    hint = (f"download it by hand and place it at {dest}, or point $NACRE_UCI_URL (or base_url) "
            "at a mirror")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    expected = response.headers.get("Content-Length")
                    total = int(expected) if expected and expected.isdigit() else None
                    done = 0
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            of = f" of {total:,}" if total else ""
                            print(f"\rnacre: downloading {url}: {done:,}{of} bytes", end="",
                                  file=sys.stderr, flush=True)
            # URLError, HTTPError and timeouts are OSErrors; ValueError: a malformed URL;
            # HTTPException: a connection cut mid-response (IncompleteRead, bad status line).
            except (OSError, ValueError, http.client.HTTPException) as exc:
                raise DownloadError(f"could not download {url}: {exc!r}; {hint}") from exc
            if total is not None and done != total:
                raise DownloadError(
                    f"could not download {url}: got {done} of {total} bytes; {hint}"
                )
            out.flush()
            os.fsync(out.fileno())
        if progress:
            print(f" -> {dest}", file=sys.stderr, flush=True)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
