"""The words every feature speaks: channels, addresses, names, the template
grammar and how long a message is. Imports no feature; every feature may
import it (the layers contract in pyproject.toml keeps it so)."""
