"""The command line: argument parsing, table/JSON rendering, the watch view, the demo flow."""
