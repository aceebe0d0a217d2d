"""The one error type the build raises for bad input or failed steps."""


class BuildError(Exception):
    """A build step cannot go on. The message names the file, field or value at fault."""
