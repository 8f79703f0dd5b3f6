"""The student notebooks: up to date, blank where the exercises are, and
every blank exercise fails its check with a clear message.

The exercises run in a fresh kernel on a reduced notebook: the cells tagged
``setup``, then each exercise with its check cell, first the student's blank
version (the check must fail), then the solution (the check must pass). That
proves each check needs only the setup cells, so a student's failure comes
from the blank and not from a missing name.
"""

import copy
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from molap_np import exercises
from molap_np.exercises import (
    MarkerError,
    blank_exercise,
    check_close,
    check_that,
    make_student,
    student_notebook,
)

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
STUDENT = TUTORIALS / "student"
REGENERATE = "python -m molap_np.exercises tutorials tutorials/student"


def tags(cell):
    return cell.metadata.get("tags", [])


def with_exercises():
    return [
        path
        for path in sorted(TUTORIALS.glob("*.ipynb"))
        if any("exercise" in tags(c) for c in nbformat.read(path, 4).cells)
    ]


# Generation.


def test_student_notebooks_are_up_to_date(tmp_path):
    make_student(TUTORIALS, tmp_path)
    fresh = {p.name: p.read_bytes() for p in sorted(tmp_path.glob("*.ipynb"))}
    stored = {p.name: p.read_bytes() for p in sorted(STUDENT.glob("*.ipynb"))}
    assert sorted(stored) == sorted(fresh), f"student notebooks differ: {REGENERATE}"
    for name, text in fresh.items():
        assert stored[name] == text, f"{name} is out of date: {REGENERATE}"


def test_generation_is_deterministic(tmp_path):
    first = make_student(TUTORIALS, tmp_path / "a")
    second = make_student(TUTORIALS, tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.mark.parametrize("path", sorted(STUDENT.glob("*.ipynb")), ids=lambda p: p.name)
def test_student_notebook_holds_no_solution(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        assert exercises.BEGIN not in cell.source, f"{path.name} cell {index}"
        assert exercises.END not in cell.source, f"{path.name} cell {index}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if "exercise" in tags(cell):
            assert "raise NotImplementedError(" in cell.source
            assert '"Exercise: ' in cell.source


def test_stub_keeps_indentation_and_hint():
    source = (
        "def f(x):\n    # BEGIN SOLUTION: double it\n"
        "    return 2 * x\n    # END SOLUTION\n"
    )
    assert blank_exercise(source) == (
        'def f(x):\n    raise NotImplementedError("Exercise: double it")\n'
    )


def test_stub_without_hint_names_the_check_cell():
    blank = blank_exercise("# BEGIN SOLUTION\ny = 1\n# END SOLUTION")
    assert blank == f'raise NotImplementedError("Exercise: {exercises.DEFAULT_HINT}")'


MALFORMED = {
    "never closed": "# BEGIN SOLUTION\ny = 1\n",
    "without a": "y = 1\n# END SOLUTION\n",
    "inside the solution": "# BEGIN SOLUTION\n# BEGIN SOLUTION\ny = 1\n# END SOLUTION",
    "is indented": "def f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION",
    "is empty": "# BEGIN SOLUTION\n\n# END SOLUTION",
    "has no": "y = 1\n",
}


@pytest.mark.parametrize("message, source", MALFORMED.items(), ids=list(MALFORMED))
def test_malformed_markers_are_refused(message, source):
    with pytest.raises(MarkerError, match=message):
        blank_exercise(source, "nb.ipynb cell 3")


def notebook(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def code(source, *cell_tags):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(cell_tags)
    return cell


SOLVED = "# BEGIN SOLUTION\ny = 1\n# END SOLUTION"
BAD_LAYOUTS = {
    "not tagged 'exercise'": notebook(code(SOLVED), code("print(y)", "check")),
    "tagged 'check'": notebook(code(SOLVED, "exercise"), code("print(y)")),
    "markdown cell": notebook(nbformat.v4.new_markdown_cell(SOLVED)),
}


@pytest.mark.parametrize("message, nb", BAD_LAYOUTS.items(), ids=list(BAD_LAYOUTS))
def test_bad_layouts_are_refused(message, nb):
    with pytest.raises(MarkerError, match=message):
        student_notebook(nb, "nb.ipynb")


def test_nothing_is_written_when_one_notebook_is_malformed(tmp_path):
    source, out = tmp_path / "source", tmp_path / "out"
    source.mkdir()
    good = notebook(code(SOLVED, "exercise"), code("print(y)", "check"))
    nbformat.write(good, source / "a.ipynb")
    nbformat.write(BAD_LAYOUTS["tagged 'check'"], source / "b.ipynb")
    with pytest.raises(MarkerError, match="b.ipynb cell 0"):
        make_student(source, out)
    assert not list(out.glob("*")) if out.exists() else True


def test_refuses_to_overwrite_the_solutions():
    with pytest.raises(ValueError, match="overwrite the solutions"):
        make_student(TUTORIALS, TUTORIALS)


def test_command_checks_and_reports(tmp_path, capsys):
    out = tmp_path / "student"
    assert exercises.main([str(TUTORIALS), str(out), "--check"]) == 1
    assert exercises.main([str(TUTORIALS), str(out)]) == 0
    assert exercises.main([str(TUTORIALS), str(out), "--check"]) == 0
    source = tmp_path / "bad"
    source.mkdir()
    nbformat.write(BAD_LAYOUTS["markdown cell"], source / "x.ipynb")
    assert exercises.main([str(source), str(out)]) == 2
    assert "x.ipynb cell 0 is a markdown cell" in capsys.readouterr().err


# The answer checks.


def test_check_close_passes_and_fails_clearly(capsys):
    check_close([1.0, 2.0], [1.0, 2.0], "y")
    assert "Correct!" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"shape \(1,\), expected \(2,\)"):
        check_close([1.0], [1.0, 2.0], "y")
    with pytest.raises(AssertionError, match="largest difference 0.5. Hint"):
        check_close([1.0, 2.5], [1.0, 2.0], "y", "Hint")
    with pytest.raises(AssertionError, match="forget `return`"):
        check_close(None, [1.0], "y")


def test_check_that(capsys):
    check_that(True, "it holds")
    assert "Correct! it holds." in capsys.readouterr().out
    with pytest.raises(AssertionError, match="it holds: not true yet. Hint"):
        check_that(False, "it holds", "Hint")


# Blank exercises fail their checks; solutions pass them.


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernel spec directory whose only ``python3`` is ``sys.executable``."""
    spec = tmp_path_factory.mktemp("kernels") / "python3"
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return KernelSpecManager(kernel_dirs=[str(spec.parent)], ensure_native_kernel=False)


def kernel_env():
    env = dict(os.environ, MOLAP_NP_SMALL="1", MPLBACKEND="Agg")
    if env.get("PYTHONPATH"):
        paths = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in paths)
    return env


def exercise_pairs(nb):
    cells = nb.cells
    return [
        (cells[i], cells[i + 1])
        for i, cell in enumerate(cells)
        if "exercise" in tags(cell)
    ]


def reduced(name):
    """Setup cells, blank exercises with checks, solutions with checks."""
    solution = nbformat.read(TUTORIALS / name, as_version=4)
    student = nbformat.read(STUDENT / name, as_version=4)
    setup = [c for c in student.cells if "setup" in tags(c)]
    blanks = [c for pair in exercise_pairs(student) for c in pair]
    solved = [c for pair in exercise_pairs(solution) for c in pair]
    cells = [copy.deepcopy(c) for c in (*setup, *blanks, *solved)]
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"  # the solution and the blank share ids
    return notebook(*cells), len(setup), len(blanks) // 2


def errors(cell):
    return [o for o in cell.outputs if o.output_type == "error"]


def stdout(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.parametrize("path", with_exercises(), ids=lambda p: p.name)
def test_blank_exercises_fail_their_checks(path, kernel_specs):
    nb, n_setup, n_exercises = reduced(path.name)
    assert n_exercises >= 1
    manager = AsyncKernelManager(
        kernel_name="python3", kernel_spec_manager=kernel_specs
    )
    client = NotebookClient(
        nb,
        km=manager,
        timeout=120,
        allow_errors=True,
        resources={"metadata": {"path": str(STUDENT)}},
    )
    client.execute(env=kernel_env())

    for cell in nb.cells[:n_setup]:
        assert not errors(cell), f"setup cell failed: {errors(cell)}"
    pairs = nb.cells[n_setup:]
    for k in range(0, 2 * n_exercises, 2):
        exercise, check = pairs[k], pairs[k + 1]
        assert not errors(exercise), f"blank exercise {k // 2 + 1} does not run"
        failure = errors(check)
        assert failure, f"the check of blank exercise {k // 2 + 1} passes"
        assert failure[0].ename in ("NotImplementedError", "AssertionError"), (
            f"check of exercise {k // 2 + 1} fails unclearly: "
            f"{failure[0].ename}: {failure[0].evalue}"
        )
        assert failure[0].evalue.strip()
    for k in range(2 * n_exercises, 4 * n_exercises, 2):
        exercise, check = pairs[k], pairs[k + 1]
        assert not errors(exercise) and not errors(check), (
            f"solution {k // 2 - n_exercises + 1} fails its check alone: "
            f"{errors(exercise) or errors(check)}"
        )
        assert "Correct!" in stdout(check)
