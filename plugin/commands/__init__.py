"""The `escalator` commands, one module per area; each module's `register` adds its sub-commands."""
