"""Forget requests and tasks: which training samples to forget, and everything a run needs."""

from .forget import ForgetRequest, read_indices_file, write_indices_file
from .task import Task, UnlearnData

__all__ = ["ForgetRequest", "Task", "UnlearnData", "read_indices_file", "write_indices_file"]
