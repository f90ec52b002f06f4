"""History files (DESIGN §9): the line format, a streaming reader that groups lines per ticket, and a
synthetic history generator — the inputs of `escalator simulate`, written by `export` and `synth`."""
