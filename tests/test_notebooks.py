"""Every tutorial notebook runs from top to bottom, and is stored clean.

The notebooks run with ``MOLAP_NP_SMALL=1`` (each picks smaller settings
then), in ``tutorials/`` as working directory, on a kernel started with the
very interpreter that runs pytest: a kernel spec found elsewhere on the
machine (a user's ``python3`` kernel, say) could belong to another Python
without this package.
"""

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernel spec directory whose only ``python3`` is ``sys.executable``."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / "python3"
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


def kernel_env():
    """The test process's environment, in SMALL mode, with inline figures."""
    env = dict(os.environ, MOLAP_NP_SMALL="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    # One BLAS thread per process: notebooks that train in worker processes
    # would otherwise oversubscribe two cores and run many times slower.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # conftest.py sets Agg for the tests; the kernel picks its inline backend.
    env.pop("MPLBACKEND", None)
    # The kernel runs in tutorials/, so a relative PYTHONPATH (say ".") must
    # be made absolute to name the same folders as it does here.
    if env.get("PYTHONPATH"):
        paths = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in paths)
    return env


def execute(nb, kernel_specs):
    manager = AsyncKernelManager(
        kernel_name="python3", kernel_spec_manager=kernel_specs
    )
    client = NotebookClient(
        nb,
        km=manager,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(TUTORIALS)}},
    )
    client.execute(env=kernel_env())
    return nb


def test_kernel_is_this_interpreter(kernel_specs):
    import molap_np

    probe = "import os, sys, molap_np\n" + "\n".join(
        f"print({expr})" for expr in ("sys.prefix", "molap_np.__file__", "os.getcwd()")
    )
    probe += "\nprint(os.environ['MOLAP_NP_SMALL'])"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
    lines = execute(nb, kernel_specs).cells[0].outputs[0]["text"].splitlines()
    assert lines == [sys.prefix, molap_np.__file__, str(TUTORIALS), "1"]


def test_there_are_tutorials():
    assert NOTEBOOKS, f"no notebooks in {TUTORIALS}"


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, kernel_specs):
    execute(nbformat.read(path, as_version=4), kernel_specs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name}: cell {index} has outputs"
        assert cell.execution_count is None, f"{path.name}: cell {index} was run"
