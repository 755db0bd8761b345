"""Every subcommand, fed bad input, ends with one line on stderr, exit status 2, no traceback
and no file written (the table is tests/cli_cases.py; the fast subset runs two cases of each
subcommand, the full suite all of them)."""

import os
import shutil

import pytest
from cli_cases import CASES, FAST, prepare, snapshot

from fpsolve.cli import main


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli-cases")
    prepare(str(directory))
    return directory


def test_table_is_large_and_covers_every_subcommand():
    from fpsolve.cli import build_parser

    assert len(CASES) >= 200
    assert len({name for name, _ in CASES}) == len(CASES)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    covered = {argv[0] for _, argv in CASES if argv}
    assert set(sub.choices) <= covered
    # the fast subset samples every subcommand, from names of the table
    assert FAST.issubset(name for name, _ in CASES)
    assert set(sub.choices) <= {argv[0] for name, argv in CASES if name in FAST}


def _param(name, argv):
    marks = () if name in FAST else (pytest.mark.slow,)
    return pytest.param(name, argv, id=name, marks=marks)


@pytest.mark.parametrize(("name", "argv"), [_param(name, argv) for name, argv in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(name, argv, template, tmp_path, capsys):
    work = tmp_path / "w"
    shutil.copytree(template, work)
    before = snapshot(str(work))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "error" in lines[0]
    assert "Traceback" not in err
    assert snapshot(str(work)) == before
