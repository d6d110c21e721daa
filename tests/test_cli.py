"""`albench`'s error boundary: what a user caused is one line and exit 2; a bug in albench shows its traceback."""
import pytest

from bench import cli
from bench.core.errors import ConfigError, UnknownNameError


def test_a_user_error_is_one_line_and_exit_2(monkeypatch, capsys):
    def refuse(a):
        raise ConfigError("epochs must be >= 1, got 0")

    monkeypatch.setattr(cli, "cmd_list", refuse)
    assert cli.main(["list"]) == 2
    assert capsys.readouterr().err == "albench: error: epochs must be >= 1, got 0\n"


def test_an_unknown_name_reads_plainly():
    err = UnknownNameError("unknown strategy 'x'; available: random")
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    assert str(err) == "unknown strategy 'x'; available: random"   # not KeyError's quoted repr


@pytest.mark.parametrize("bug", [ValueError("a bug"), KeyError("a bug"), TypeError("a bug")])
def test_a_bug_in_albench_shows_its_traceback(monkeypatch, bug):
    def broken(a):
        raise bug

    monkeypatch.setattr(cli, "cmd_list", broken)
    with pytest.raises(type(bug)):
        cli.main(["list"])


def test_version_says_which_albench(capsys):
    from bench import __version__

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"albench {__version__}"
