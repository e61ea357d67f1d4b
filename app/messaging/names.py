"""People's names as typed, and the first and last names templates use."""

# The longest name kept, in a recipient's row and a pasted line.
MAX_NAME = 200


def split_name(name: str) -> tuple[str, str]:
    """A name's first and last name, by one rule wherever a whole name comes
    in (a pasted line, an imported file's full-name column): with a comma it
    is "Last, First" ("Hopper, Grace": Grace, Hopper), and no comma is part of
    either; otherwise the first word is the first name and the rest the last
    name ("Grace Brewster Hopper": Grace, Brewster Hopper). Runs of spaces
    read as one."""
    if "," in name:
        last, _, first = name.partition(",")
        return " ".join(first.replace(",", " ").split()), " ".join(last.split())
    words = name.split()
    return (words[0], " ".join(words[1:])) if words else ("", "")
