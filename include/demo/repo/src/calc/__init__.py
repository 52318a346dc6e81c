"""A tiny calculator package the demo batch works on."""
