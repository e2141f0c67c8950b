"""The hintspec version (what a trace file records of the program that wrote it)."""

VERSION = "0.1.0"
