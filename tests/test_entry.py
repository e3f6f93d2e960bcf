"""The `jumeau` command starts light: a Ctrl-C while it loads ends in one line, exit code 130."""

from __future__ import annotations

import importlib.abc
import subprocess
import sys

import pytest

from jumeau import entry


class _InterruptedImport(importlib.abc.MetaPathFinder):
    """Ctrl-C pressed while the command line's modules load."""

    def find_spec(self, name, path, target=None):
        if name == "jumeau.cli":
            raise KeyboardInterrupt
        return None


def test_an_interrupt_while_the_command_line_loads_is_one_line(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "jumeau.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptedImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_importing_jumeau_loads_neither_pandas_nor_torch_until_used():
    code = (
        "import sys, jumeau; light = not {'pandas', 'torch'} & set(sys.modules); "
        "cohort = jumeau.Cohort; print(light, 'pandas' in sys.modules, cohort.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "Cohort"]


class _InterruptedCommandModule(importlib.abc.MetaPathFinder):
    """Ctrl-C pressed while the package `jumeau.cli` imports its command modules — what
    `python -m jumeau.cli` does before its `__main__` runs."""

    def find_spec(self, name, path, target=None):
        if name == "jumeau.cli.data":
            raise KeyboardInterrupt
        return None


def test_an_interrupt_while_python_m_jumeau_cli_loads_is_one_line(monkeypatch, capsys):
    for name in [n for n in sys.modules if n == "jumeau.cli" or n.startswith("jumeau.cli.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_InterruptedCommandModule(), *sys.meta_path])
    with pytest.raises(SystemExit) as stopped:
        import jumeau.cli  # noqa: F401
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"
