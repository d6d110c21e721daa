"""The exceptions albench raises for bad input; the CLI turns each into one message and exit code 2."""


class AlbenchError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(AlbenchError, ValueError):
    """An impossible or inconsistent configuration (budget <= 0, more rounds than the pool allows, ...)."""


class DataError(AlbenchError):
    """A dataset that cannot be read."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """No copy of a dataset in any place albench looks."""


class DatasetCorruptError(DataError):
    """A dataset file exists but is unreadable or incomplete."""


class ResultsConflictError(AlbenchError):
    """A results folder holds a run with a different configuration."""


class ResultsCorruptError(AlbenchError):
    """A results folder whose files cannot be verified (missing identity or table, unreadable JSON)."""


class TrainingDivergedError(AlbenchError):
    """The classifier's loss became NaN or infinite: its accuracy would be meaningless."""
