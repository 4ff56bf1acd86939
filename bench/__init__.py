"""initcli's benchmark (issue 5): ``python bench/run.py [--quick | --full]``."""
