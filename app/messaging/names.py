"""People's names as typed, and the first and last names templates use."""

# The longest name kept, in a recipient's row and a pasted line.
MAX_NAME = 200


def split_name(name: str) -> tuple[str, str]:
    """A pasted name's first word, and the rest."""
    first, last = [*name.split(maxsplit=1), "", ""][:2]
    return first, last
