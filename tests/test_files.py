"""Network files: exact round trips, clear refusals, whole-or-nothing writes."""

import json
import os

import numpy as np
import pytest

from molap_np import files, rnn


@pytest.fixture
def params():
    return rnn.init_params(3, 7, 2, np.random.default_rng(0), module_sizes=(4, 3))


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def metadata_of(path):
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["metadata"]))


def rewrite(path, params, metadata):
    """A network file with the given weights and metadata, bypassing checks."""
    write_npz(path, **params, metadata=np.array(json.dumps(metadata)))


def test_round_trip_is_exact(tmp_path, params):
    path = tmp_path / "net.npz"
    training = {"steps": 10, "lr": 1e-3, "schedule": "cosine"}
    files.save_network(
        path, params, (4, 3), task="MemoryPro", seed=3, training=training
    )
    loaded, metadata = files.load_network(path)
    assert all(same_bits(loaded[k], params[k]) for k in rnn.PARAM_NAMES)
    assert metadata == {
        "format": "molap_np.network",
        "format_version": 1,
        "n_in": 3,
        "N": 7,
        "n_out": 2,
        "module_sizes": [4, 3],
        "task": "MemoryPro",
        "seed": 3,
        "training": training,
    }


def test_the_file_is_plain_npz(tmp_path, params):
    path = tmp_path / "net.npz"
    files.save_network(path, params)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(rnn.PARAM_NAMES + ("metadata",))
        assert np.array_equal(archive["J"], params["J"])
    assert metadata_of(path)["module_sizes"] == [7]


def test_a_truncated_file_is_refused(tmp_path, params):
    path = tmp_path / "net.npz"
    files.save_network(path, params)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(files.NetworkFileError, match="not a readable .npz"):
        files.load_network(path)


def test_a_pickled_object_array_is_refused(tmp_path, params):
    path = tmp_path / "net.npz"
    files.save_network(path, params)
    rewrite(path, {**params, "J": np.array([{"code": 1}], dtype=object)}, {})
    with pytest.raises(files.NetworkFileError, match="refused to load"):
        files.load_network(path)


def test_a_foreign_npz_is_refused(tmp_path, params):
    path = tmp_path / "other.npz"
    write_npz(path, **params)
    with pytest.raises(files.NetworkFileError, match="no metadata"):
        files.load_network(path)
    rewrite(path, params, {"format": "someone.else"})
    with pytest.raises(files.NetworkFileError, match="not a molap_np.network file"):
        files.load_network(path)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path, params):
    path = tmp_path / "net.npy"
    np.save(path, params["J"])
    with pytest.raises(files.NetworkFileError, match="not an .npz"):
        files.load_network(path)


def test_another_format_version_is_refused(tmp_path, params):
    path = tmp_path / "net.npz"
    files.save_network(path, params)
    rewrite(path, params, {**metadata_of(path), "format_version": 2})
    with pytest.raises(files.NetworkFileError, match="format version 2.*version 1"):
        files.load_network(path)


def test_shapes_must_agree_with_the_metadata(tmp_path, params):
    path = tmp_path / "net.npz"
    files.save_network(path, params)
    metadata = metadata_of(path)
    rewrite(path, params, {**metadata, "N": 8})
    with pytest.raises(files.NetworkFileError, match="metadata says"):
        files.load_network(path)
    rewrite(path, {**params, "h0": np.zeros(6)}, metadata)
    with pytest.raises(files.NetworkFileError, match=r"h0 has shape \(6,\)"):
        files.load_network(path)
    rewrite(path, params, {**metadata, "module_sizes": [4, 4]})
    with pytest.raises(files.NetworkFileError, match="module_sizes"):
        files.load_network(path)


def test_wrong_dtype_and_missing_weights_are_refused(tmp_path, params):
    path = tmp_path / "net.npz"
    files.save_network(path, params)
    metadata = metadata_of(path)
    rewrite(path, {**params, "b": params["b"].astype(np.float32)}, metadata)
    with pytest.raises(files.NetworkFileError, match="b is float32"):
        files.load_network(path)
    rewrite(path, {k: v for k, v in params.items() if k != "W_out"}, metadata)
    with pytest.raises(files.NetworkFileError, match="'W_out' is missing"):
        files.load_network(path)


def test_bad_networks_are_not_saved(tmp_path, params):
    path = tmp_path / "net.npz"
    with pytest.raises(ValueError, match="NaN"):
        files.save_network(path, {**params, "J": params["J"] * np.nan})
    with pytest.raises(ValueError, match="do not sum to N = 7"):
        files.save_network(path, params, module_sizes=(4, 4))
    with pytest.raises(ValueError, match="set by save_network"):
        files.save_network(path, params, N=3)
    assert os.listdir(tmp_path) == []


def test_an_interrupted_save_leaves_nothing(tmp_path):
    path = tmp_path / "out.bin"

    def fail_halfway(f):
        f.write(b"half of the data")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(path, fail_halfway)
    assert os.listdir(tmp_path) == []


def test_an_interrupted_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.bin"
    files.atomic_write(path, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"new but incomplete")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_json_round_trip_and_refusal(tmp_path):
    path = tmp_path / "r.json"
    files.write_json(path, {"acc": [0.5, 1.0], "task": "DelayPro"})
    assert files.read_json(path) == {"acc": [0.5, 1.0], "task": "DelayPro"}
    with pytest.raises(ValueError):
        files.write_json(tmp_path / "bad.json", {"acc": float("nan")})
    assert sorted(os.listdir(tmp_path)) == ["r.json"]
