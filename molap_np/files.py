"""Network files and atomic writes.

A network file is one ``.npz`` archive (a zip of ``.npy`` arrays, readable by
``numpy.load`` in any framework's environment) holding:

    W_in   float64 (N, n_in)       J      float64 (N, N)     b  float64 (N,)
    W_out  float64 (n_out, N)      b_out  float64 (n_out,)   h0 float64 (N,)
    metadata   0-d unicode array: a JSON object

The weights follow equations (1) and (2) of ``molap_np.rnn``: ``W_in @ x``,
``J @ h``, ``W_out @ h``, the orientation PyTorch uses too. The metadata
holds at least::

    {"format": "molap_np.network", "format_version": 1,
     "n_in": ..., "N": ..., "n_out": ..., "module_sizes": [...],
     "task": ... or null, "seed": ... or null, "training": {...}}

Files are written whole or not at all (a temporary file in the same folder,
then an atomic rename) and read with ``allow_pickle=False``, so loading never
runs code from a file.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

from .rnn import PARAM_NAMES, check_module_sizes, check_params

FORMAT_NAME = "molap_np.network"
FORMAT_VERSION = 1
RESERVED_KEYS = ("format", "format_version", "n_in", "N", "n_out", "module_sizes")


class NetworkFileError(ValueError):
    """A network file is corrupt, foreign or of another format version."""


def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary file, then rename to path.

    If ``write`` raises, the temporary file is removed and ``path`` is left
    as it was; only a killed process can leave a hidden ``.tmp-*.part`` file
    behind, never a half-written ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    # mkstemp makes the file private (0600); give it the mode an ordinary
    # open() would, so that results can be shared as usual.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path):
    """The object in a JSON file."""
    with open(path) as f:
        return json.load(f)


def save_network(path, params, module_sizes=None, task=None, seed=None, **extra):
    """Write a network file (see the module docstring), atomically.

    Parameters
    ----------
    path : str or PathLike
        Target file; ``.npz`` is the expected suffix.
    params : dict of ndarray
        The six weights.
    module_sizes : sequence of int, optional
        Units per module; one module of N units if omitted.
    task, seed : optional
        Recorded in the metadata.
    **extra
        Further JSON-serialisable metadata (training settings, strategy...).
    """
    N, n_in, n_out = check_params(params)
    module_sizes = [N] if module_sizes is None else module_sizes
    module_sizes = list(check_module_sizes(module_sizes, N))
    reserved = sorted(set(extra) & set(RESERVED_KEYS))
    if reserved:
        raise ValueError(f"metadata keys {reserved} are set by save_network itself")
    arrays = {name: np.asarray(params[name], dtype=np.float64) for name in PARAM_NAMES}
    if not all(np.all(np.isfinite(a)) for a in arrays.values()):
        raise ValueError("weights contain NaN or inf; refusing to save them")
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "n_in": n_in,
        "N": N,
        "n_out": n_out,
        "module_sizes": module_sizes,
        "task": task,
        "seed": seed,
        **extra,
    }
    arrays["metadata"] = np.array(json.dumps(metadata, allow_nan=False))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_network(path):
    """Read a network file written by ``save_network``.

    Returns
    -------
    params : dict of ndarray
        The six weights, float64.
    metadata : dict

    Raises
    ------
    NetworkFileError
        If the file is not a complete network file of this format version.
    FileNotFoundError
        If there is no file at ``path``.
    """
    contents = _read_archive(path)
    metadata = _read_metadata(path, contents)
    params = {}
    for name in PARAM_NAMES:
        if name not in contents:
            raise NetworkFileError(f"{path}: weight {name!r} is missing")
        if contents[name].dtype != np.float64:
            raise NetworkFileError(
                f"{path}: {name} is {contents[name].dtype}, expected float64"
            )
        params[name] = contents[name]
    try:
        sizes = check_params(params)
    except ValueError as err:
        raise NetworkFileError(f"{path}: {err}") from err
    said = tuple(metadata[key] for key in ("N", "n_in", "n_out"))
    if sizes != said:
        raise NetworkFileError(
            f"{path}: weights have N, n_in, n_out = {sizes} but the metadata "
            f"says {said}"
        )
    if sum(metadata["module_sizes"]) != sizes[0]:
        raise NetworkFileError(f"{path}: module_sizes do not sum to N = {sizes[0]}")
    if not all(np.all(np.isfinite(p)) for p in params.values()):
        raise NetworkFileError(f"{path}: weights contain NaN or inf")
    return params, metadata


def _read_archive(path):
    """Every array of an .npz file, read without unpickling anything."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise NetworkFileError(f"{path}: not an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (FileNotFoundError, NetworkFileError):
        raise
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise NetworkFileError(f"{path}: not a readable .npz archive ({err})") from err
    except ValueError as err:
        # numpy refuses object arrays without pickle: a foreign or unsafe file.
        raise NetworkFileError(f"{path}: refused to load ({err})") from err


def _read_metadata(path, contents):
    if "metadata" not in contents or contents["metadata"].dtype.kind != "U":
        raise NetworkFileError(f"{path}: no metadata; not a molap_np network file")
    try:
        metadata = json.loads(str(contents["metadata"]))
    except json.JSONDecodeError as err:
        raise NetworkFileError(f"{path}: metadata is not valid JSON ({err})") from err
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise NetworkFileError(f"{path}: not a {FORMAT_NAME} file")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise NetworkFileError(
            f"{path}: format version {version}, this molap_np reads version "
            f"{FORMAT_VERSION}"
        )
    for key in ("N", "n_in", "n_out"):
        if not isinstance(metadata.get(key), int):
            raise NetworkFileError(f"{path}: metadata {key!r} is not an integer")
    sizes = metadata.get("module_sizes")
    if not isinstance(sizes, list) or not all(isinstance(m, int) for m in sizes):
        raise NetworkFileError(f"{path}: metadata 'module_sizes' is not a list of ints")
    return metadata
