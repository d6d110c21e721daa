"""albench harness: the pool, the classifier, training, the active-learning loop, results and plots."""
__version__ = "0.2.0"   # part of every trial's identity: a trial is not resumed by another version


def import_datasets():
    """Import albench's ``datasets`` package, failing clearly if Hugging Face's ``datasets`` shadows it.

    Both packages are called ``datasets``; when both are installed in one environment, whichever comes
    first on ``sys.path`` wins.  albench belongs in its own virtual environment (``make setup``).
    """
    import datasets

    if not getattr(datasets, "ALBENCH", False):
        raise ImportError(
            f"'import datasets' found {getattr(datasets, '__file__', datasets)!r}, not albench's datasets "
            "package (probably Hugging Face's 'datasets'). Install albench in its own virtual environment "
            "(`make setup` creates .venv) or run `pip uninstall datasets` there."
        )
    return datasets
