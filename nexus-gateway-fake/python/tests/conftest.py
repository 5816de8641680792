"""pytester runs a suite of the fixture in a test of its own."""

pytest_plugins = ["pytester"]
