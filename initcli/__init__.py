"""initcli: explore neural-network initialization statistics from the terminal."""

__version__ = "0.1.0"
