"""Exercises of the tutorials: the student notebooks and the answer checks.

The tutorials in ``tutorials/*.ipynb`` are the *solution* versions: the test
suite runs them. A code cell tagged ``exercise`` (cell metadata ``tags``)
holds the part a student writes between two marker lines::

    def rnn_step(params, x, h):
        # BEGIN SOLUTION: apply equation (7) to one time step
        h_next = np.tanh(x @ params["W_in"].T + h @ params["J"].T + params["b"])
        return h_next, h_next @ params["W_out"].T + params["b_out"]
        # END SOLUTION

The cell right after it is tagged ``check``: it calls what the exercise
defines and prints ``Correct!`` or raises ``AssertionError`` with a hint.
Code cells tagged ``setup`` are the few cheap cells (imports, settings) the
exercises need; the tests run them with each exercise and its check alone.

The *student* version replaces each marked region by
``raise NotImplementedError("Exercise: <hint>")``, indented like the
``BEGIN`` line, with the hint written after ``BEGIN SOLUTION:`` (a generic
one if there is none), and stores every notebook without outputs. Make it,
from the repository root, with::

    python -m molap_np.exercises tutorials tutorials/student

``--check`` compares instead of writing and exits with status 1 when the
student notebooks are out of date. The output is byte-identical for the same
input, and each file is written whole or not at all.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .files import atomic_write

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
DEFAULT_HINT = "write this part, then run the check cell below"


class MarkerError(ValueError):
    """A notebook's exercise markers are malformed; the message says where."""


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _source(cell):
    # Notebook JSON stores a cell's source as a string or a list of lines.
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _marker(line):
    """``(kind, indent, hint)`` for a marker line, else None."""
    text = line.strip()
    indent = line[: len(line) - len(line.lstrip())]
    if text.startswith(BEGIN):
        hint = text[len(BEGIN) :].lstrip(":").strip()
        return "begin", indent, hint
    if text.startswith(END):
        return "end", indent, ""
    return None


def _stub(indent, hint):
    message = json.dumps("Exercise: " + (hint or DEFAULT_HINT), ensure_ascii=False)
    line = f"{indent}raise NotImplementedError({message})"
    if len(line) <= 88:
        return line
    # The layout a formatter gives a call too long for one line.
    return f"{indent}raise NotImplementedError(\n{indent}    {message}\n{indent})"


def blank_exercise(source, where="cell"):
    """The source with every marked solution replaced by its stub.

    Parameters
    ----------
    source : str
        A code cell's source.
    where : str
        Names the cell in error messages, e.g. ``"01_tasks.ipynb cell 10"``.

    Raises
    ------
    MarkerError
        For a BEGIN inside a solution, an END without BEGIN, a BEGIN without
        END, an END indented differently from its BEGIN, an empty solution,
        or a cell without any solution.
    """
    out, open_at, body = [], None, 0
    lines = source.split("\n")
    for number, line in enumerate(lines, start=1):
        marker = _marker(line)
        if marker is None:
            if open_at is None:
                out.append(line)
            else:
                body += bool(line.strip())
            continue
        kind, indent, hint = marker
        if kind == "begin":
            if open_at is not None:
                raise MarkerError(
                    f"{where}, line {number}: {BEGIN} inside the solution "
                    f"opened on line {open_at[0]}; close it with {END} first"
                )
            open_at, body = (number, indent), 0
            out.append(_stub(indent, hint))
            continue
        if open_at is None:
            raise MarkerError(
                f"{where}, line {number}: {END} without a {BEGIN} before it"
            )
        if indent != open_at[1]:
            raise MarkerError(
                f"{where}, line {number}: {END} is indented {len(indent)} "
                f"spaces, its {BEGIN} (line {open_at[0]}) {len(open_at[1])}; "
                f"indent both markers like the code between them"
            )
        if body == 0:
            raise MarkerError(
                f"{where}, lines {open_at[0]}-{number}: the solution between "
                f"the markers is empty"
            )
        open_at = None
    if open_at is not None:
        raise MarkerError(
            f"{where}, line {open_at[0]}: {BEGIN} is never closed by {END}"
        )
    if len(out) == len(lines):
        raise MarkerError(
            f"{where} is tagged 'exercise' but has no {BEGIN} ... {END} lines"
        )
    return "\n".join(out)


def _has_marker(source):
    return any(_marker(line) for line in source.split("\n"))


def _check_layout(cells, name):
    """Raise unless every exercise cell is a code cell followed by a check."""
    for index, cell in enumerate(cells):
        where = f"{name} cell {index}"
        exercise = "exercise" in _tags(cell)
        if cell["cell_type"] != "code":
            if exercise or _has_marker(_source(cell)):
                raise MarkerError(
                    f"{where} is a {cell['cell_type']} cell: exercises and "
                    f"solution markers belong in code cells"
                )
            continue
        if not exercise:
            if _has_marker(_source(cell)):
                raise MarkerError(
                    f"{where} has solution markers but is not tagged "
                    f"'exercise': tag it, or its solution would reach the "
                    f"student version"
                )
            continue
        after = cells[index + 1] if index + 1 < len(cells) else None
        if after is None or after["cell_type"] != "code" or "check" not in _tags(after):
            raise MarkerError(
                f"{where} is an exercise, but the next cell is not a code "
                f"cell tagged 'check' that tells the student if it is right"
            )


def _clean(cell):
    cell = dict(cell)
    if cell["cell_type"] == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    return cell


def student_notebook(notebook, name="notebook"):
    """The student version of a notebook given as its JSON dict.

    Exercise cells get their solutions blanked (see ``blank_exercise``);
    every code cell loses its outputs and execution count. The input is
    not modified.
    """
    cells = notebook["cells"]
    _check_layout(cells, name)
    out = []
    for index, cell in enumerate(cells):
        cell = _clean(cell)
        if "exercise" in _tags(cell):
            where = f"{name} cell {index}"
            source = blank_exercise(_source(cell), where)
            # Keep the stored layout: Jupyter writes a list of lines.
            if not isinstance(cell["source"], str):
                source = source.splitlines(keepends=True)
            cell["source"] = source
        out.append(cell)
    return {**notebook, "cells": out}


def notebook_text(notebook):
    """Notebook JSON text in a fixed layout (the one Jupyter writes)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def student_texts(source_dir):
    """``{file name: student notebook text}`` for every notebook in a folder.

    Every notebook is checked before any text is returned, so a malformed
    marker anywhere means nothing is written.
    """
    paths = sorted(Path(source_dir).glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {source_dir}")
    texts = {}
    for path in paths:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        texts[path.name] = notebook_text(student_notebook(notebook, path.name))
    return texts


def make_student(source_dir, out_dir):
    """Write the student version of every notebook; return the paths."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if source_dir.resolve() == out_dir.resolve():
        raise ValueError(
            f"the student notebooks would overwrite the solutions in "
            f"{source_dir}; give another output folder"
        )
    texts = student_texts(source_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        path = out_dir / name
        atomic_write(path, lambda f, text=text: f.write(text.encode("utf-8")))
        written.append(path)
    return written


def stale_files(source_dir, out_dir):
    """Names of student notebooks that differ from a fresh generation.

    A notebook missing from ``out_dir``, or present there without a source,
    counts as stale too.
    """
    texts = student_texts(source_dir)
    present = {p.name for p in Path(out_dir).glob("*.ipynb")}
    stale = sorted(present - set(texts))
    for name, text in texts.items():
        path = Path(out_dir) / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return sorted(stale)


# Answer checks, called by the notebooks' check cells.


def _as_array(value, what):
    if value is None:
        raise AssertionError(
            f"{what}: your code gave None. Did the function forget `return`?"
        )
    return np.asarray(value)


def check_close(got, expected, what, hint="", rtol=1e-7, atol=1e-10):
    """Print ``Correct!`` if ``got`` matches ``expected``, else raise.

    Parameters
    ----------
    got, expected : array_like
        The student's answer and the reference; shapes must be equal.
    what : str
        What is being checked, for the messages.
    hint : str
        Added to the failure message: the usual mistake.
    rtol, atol : float
        Tolerances of ``numpy.allclose``.

    Raises
    ------
    AssertionError
        With the shapes, or the largest difference and the hint.
    """
    got, expected = _as_array(got, what), np.asarray(expected)
    if got.shape != expected.shape:
        raise AssertionError(
            f"{what}: shape {got.shape}, expected {expected.shape}. {hint}"
        )
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        worst = np.max(np.abs(got.astype(float) - expected))
        raise AssertionError(
            f"{what}: wrong values, largest difference {worst:.3g}. {hint}"
        )
    print(f"Correct! {what} matches.")


def check_that(condition, what, hint=""):
    """Print ``Correct!`` if ``condition`` holds, else raise with the hint."""
    if not condition:
        raise AssertionError(f"{what}: not true yet. {hint}")
    print(f"Correct! {what}.")


def main(argv=None):
    """``python -m molap_np.exercises SOURCE OUT [--check]``."""
    parser = argparse.ArgumentParser(
        prog="python -m molap_np.exercises",
        description="Write the student version of the tutorial notebooks.",
    )
    parser.add_argument("source", nargs="?", default="tutorials")
    parser.add_argument("out", nargs="?", default="tutorials/student")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the student notebooks are out of date",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files(args.source, args.out)
            for name in stale:
                print(f"out of date: {Path(args.out) / name}")
            return 1 if stale else 0
        for path in make_student(args.source, args.out):
            print(f"wrote {path}")
    except (MarkerError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
